"""The urban data hub: an NGSI-LD (ETSI GS CIM 009) context broker."""
