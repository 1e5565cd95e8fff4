"""Instant polls: single, multiple and ranked choice; one vote per verified resident."""
