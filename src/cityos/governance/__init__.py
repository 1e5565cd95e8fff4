"""Governance: civil complaints (민원) over Open311 GeoReport v2, their routing and workflow."""
