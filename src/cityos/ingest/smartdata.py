"""What the FIWARE Smart Data Models say a device's entity may hold, for checking mappings.

The table (``_sdm_attributes.MODELS``) is generated from the models' JSON Schemas by
``scripts/sdm_attributes.py``. Each model's attributes are expanded with its domain's
@context, which the hub resolves offline (``cityos/data/contexts/smart-data-models``).
"""

from __future__ import annotations

from typing import Literal

from cityos.ingest._sdm_attributes import MODELS

ValueType = Literal["Number", "Integer", "Text", "Boolean", "Point"]
VALUE_TYPES: tuple[ValueType, ...] = ("Number", "Integer", "Text", "Boolean", "Point")
# JSON-Schema types each mapping value type can fill ("" = the schema allows several).
_FITS: dict[str, frozenset[str]] = {
    "Number": frozenset({"number", "integer", ""}),
    "Integer": frozenset({"integer", "number", ""}),
    "Text": frozenset({"string", ""}),
    "Boolean": frozenset({"boolean", ""}),
    "Point": frozenset({"object", ""}),  # a GeoProperty: GeoJSON Point, e.g. a position
}


def models() -> list[str]:
    """Return the names of the Smart Data Models a device may feed."""
    return sorted(MODELS)


def is_model(entity_type: str) -> bool:
    """Return True when ``entity_type`` is a Smart Data Model CityOS knows."""
    return entity_type in MODELS


def context_url(entity_type: str) -> str:
    """Return the @context URL of the model's domain (resolved offline by the hub)."""
    domain = MODELS[entity_type][0]
    return (
        f"https://raw.githubusercontent.com/smart-data-models/dataModel.{domain}"
        "/master/context.jsonld"
    )


def attribute_names(entity_type: str) -> list[str]:
    """Return the attribute names the model defines."""
    return sorted(MODELS[entity_type][1])


def has_attribute(entity_type: str, name: str) -> bool:
    """Return True when the model defines an attribute ``name``."""
    return name in MODELS[entity_type][1]


def fits(entity_type: str, name: str, value_type: str) -> bool:
    """Return True when values of ``value_type`` suit the model's attribute ``name``."""
    return MODELS[entity_type][1].get(name, "") in _FITS.get(value_type, frozenset())


def schema_type(entity_type: str, name: str) -> str:
    """Return the JSON-Schema type of the model's attribute ("" when several are allowed)."""
    return MODELS[entity_type][1].get(name, "")
