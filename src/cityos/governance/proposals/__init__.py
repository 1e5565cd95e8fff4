"""Citizen proposals: a place on the map, supports, official review, comments and moderation."""
