"""Governance: civil complaints, instant polls and citizen proposals (issue 7)."""
