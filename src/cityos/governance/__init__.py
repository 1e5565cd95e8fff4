"""Governance (issue 7): civil complaints (민원) over Open311 GeoReport v2 with routing and workflow, instant polls and citizen proposals."""
