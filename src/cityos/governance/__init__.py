"""Governance (issue 7): civil complaints (민원) over Open311 with routing, polls, proposals."""
