"""Geo-queries and scopeQ on temporal queries, per instance in the time window.

GS CIM 009 v1.8, 5.7.4.4 S3/S4; fixtures after the ETSI suite's 5744_03 and 5744_04. Both
backends (the ``client`` fixture): PostGIS on PostgreSQL, shapely on SQLite.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.temporal._window import IN, NGSI, OUT, WINDOW, ids, prop

V = "urn:ngsi-ld:Vehicle:tg-"
B = "urn:ngsi-ld:Bus:ts-"
PARIS = [2.29, 48.85]
BOX = [[[2.0, 48.5], [2.6, 48.5], [2.6, 49.2], [2.0, 49.2], [2.0, 48.5]]]
NEAR_FAR = [[[9.9, 49.9], [10.1, 49.9], [10.1, 50.1], [9.9, 50.1], [9.9, 49.9]]]


def geo(kind: str, coordinates: Any, when: str = IN) -> dict[str, Any]:
    return {
        "type": "GeoProperty",
        "value": {"type": kind, "coordinates": coordinates},
        "observedAt": when,
    }


scope = speed = prop  # a scope or a speed instance observed at ``when``


GEO_FIXTURES: list[dict[str, Any]] = [
    {"id": V + "paris", "type": "Vehicle", "location": [geo("Point", PARIS)]},
    {"id": V + "far", "type": "Vehicle", "location": [geo("Point", [10.0, 50.0])]},
    {"id": V + "outw", "type": "Vehicle", "location": [geo("Point", PARIS, OUT)]},
    {
        "id": V + "moved",
        "type": "Vehicle",
        "location": [geo("Point", [10.0, 50.0]), geo("Point", PARIS, OUT)],
    },
    {"id": V + "obs", "type": "Vehicle", "observationSpace": [geo("Point", PARIS)]},
    {
        "id": V + "road",
        "type": "Vehicle",
        "location": [geo("LineString", [[2.0, 48.0], [3.0, 49.5]])],
    },
    {
        "id": V + "zone",
        "type": "Vehicle",
        "location": [
            geo("Polygon", [[[2.2, 48.8], [2.4, 48.8], [2.4, 48.9], [2.2, 48.9], [2.2, 48.8]]])
        ],
    },
]
SCOPE_WINDOW = {
    "timerel": "between",
    "timeAt": "2026-03-01T12:00:00Z",
    "endTimeAt": "2026-03-01T13:00:00Z",
}
SCOPE_FIXTURES: list[dict[str, Any]] = [
    {"id": B + "ab", "scope": [scope("/A/B", "2026-03-01T10:00:00Z")]},
    {"id": B + "xx", "scope": [scope("/X", "2026-03-01T10:00:00Z")]},
    {"id": B + "bare"},
    {"id": B + "both", "scope": [scope(["/A/B", "/C"], "2026-03-01T10:00:00Z")]},
    {
        "id": B + "mid",
        "scope": [scope("/M", "2026-03-01T12:10:00Z")],
        "speed": [speed(1, "2026-03-01T12:05:00Z"), speed(2, "2026-03-01T12:15:00Z")],
    },
    {
        "id": B + "rep",
        "scope": [scope("/R", "2026-03-01T10:00:00Z"), scope("/S", "2026-03-01T12:30:00Z")],
        "speed": [speed(1, "2026-03-01T12:15:00Z"), speed(2, "2026-03-01T12:45:00Z")],
    },
    {"id": B + "late", "scope": [scope("/Z", "2026-03-01T14:00:00Z")]},
    {  # replaced before the window: /OLD is no longer valid in it
        "id": B + "gone",
        "scope": [scope("/OLD", "2026-03-01T09:00:00Z"), scope("/NEW", "2026-03-01T11:00:00Z")],
    },
]


# SCOPE_FIXTURES are Buses with a speed at 12:05 unless they give their own.
FLEET = GEO_FIXTURES + [
    {"type": "Bus", "speed": [speed(1, "2026-03-01T12:05:00Z")], **body} for body in SCOPE_FIXTURES
]


def geo_query(client: TestClient, georel: str, kind: str, coordinates: Any, **more: str) -> Any:
    params = {
        "type": "Vehicle",
        "georel": georel,
        "geometry": kind,
        "coordinates": json.dumps(coordinates),
        **WINDOW,
        **more,
    }
    return client.get(f"{NGSI}/temporal/entities", params=params)


@pytest.mark.parametrize(
    ("georel", "kind", "coordinates", "expected"),
    [
        ("near;maxDistance==2000", "Point", PARIS, ["paris", "zone"]),
        ("near;minDistance==2000", "Point", PARIS, ["far", "moved", "road"]),
        ("within", "Polygon", BOX, ["paris", "zone"]),
        ("intersects", "Polygon", BOX, ["paris", "road", "zone"]),
        ("contains", "Point", PARIS, ["paris", "zone"]),
        (
            "overlaps",
            "Polygon",
            [[[2.3, 48.85], [2.5, 48.85], [2.5, 49.0], [2.3, 49.0], [2.3, 48.85]]],
            ["zone"],
        ),
        # an entity without a GeoProperty instance in the window matches nothing
        ("disjoint", "Polygon", BOX, ["far", "moved"]),
        ("equals", "Point", PARIS, ["paris"]),
        ("within", "MultiPolygon", [BOX, NEAR_FAR], ["far", "moved", "paris", "zone"]),
        ("intersects", "LineString", [[2.29, 48.0], [2.29, 49.0]], ["paris", "road", "zone"]),
    ],
)
def test_geo_query_is_checked_on_the_windows_instances(
    fleet: TestClient, georel: str, kind: str, coordinates: Any, expected: list[str]
) -> None:
    assert ids(geo_query(fleet, georel, kind, coordinates)) == expected


def test_geoproperty_picks_the_attribute(fleet: TestClient) -> None:
    r = geo_query(fleet, "near;maxDistance==2000", "Point", PARIS, geoproperty="observationSpace")
    assert ids(r) == ["obs"]


def test_without_a_window_every_instance_counts(fleet: TestClient) -> None:
    r = fleet.get(
        f"{NGSI}/temporal/entities",
        params={
            "type": "Vehicle",
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": json.dumps(PARIS),
        },
    )
    assert ids(r) == ["moved", "outw", "paris", "zone"]


def test_geo_query_combines_with_q_count_and_the_body_form(fleet: TestClient) -> None:
    r = geo_query(fleet, "within", "Polygon", BOX, count="true", q="location")
    assert r.headers["NGSILD-Results-Count"] == "2"
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "geoQ": {"georel": "within", "geometry": "Polygon", "coordinates": BOX},
        "temporalQ": WINDOW,
    }
    posted = fleet.post(f"{NGSI}/temporal/entityOperations/query", json=body)
    assert ids(posted) == ["paris", "zone"]
    assert posted.json() == r.json()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"georel": "near", "geometry": "Point", "coordinates": "[2.29,48.85]"}, "maxDistance"),
        ({"georel": "within", "geometry": "Circle", "coordinates": "[2.29,48.85]"}, "Circle"),
        ({"georel": "within", "geometry": "Point", "coordinates": "[2.29,"}, "coordinates"),
        ({"georel": "within"}, "incomplete"),
        ({"georel": "sideways", "geometry": "Point", "coordinates": "[1,2]"}, "georel"),
        (
            {"georel": "near;maxDistance==-1", "geometry": "Point", "coordinates": "[1,2]"},
            "negative",
        ),
        ({"geoproperty": "location"}, "geoproperty"),
        ({"scopeQ": "A/B"}, "scopeQ"),
        ({"scopeQ": "/A/("}, "scopeQ"),
    ],
)
def test_bad_geo_and_scope_parameters_are_400(
    fleet: TestClient, params: dict[str, str], fragment: str
) -> None:
    r = fleet.get(f"{NGSI}/temporal/entities", params={"type": "Vehicle", **WINDOW, **params})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["detail"]


def scoped(client: TestClient, scope_q: str, **more: str) -> Any:
    params = {"type": "Bus", "scopeQ": scope_q, **SCOPE_WINDOW, **more}
    return client.get(f"{NGSI}/temporal/entities", params=params)


@pytest.mark.parametrize(
    ("scope_q", "expected"),
    [
        ("/A/B", ["ab", "both"]),
        ("/Y", []),
        ("/A/#", ["ab", "both"]),
        ("/#", ["ab", "both", "gone", "mid", "rep", "xx"]),  # not bare, not late
        ("/X|/M", ["mid", "xx"]),
        ("/X,/M", ["mid", "xx"]),
        ("(/A/B;/C)", ["both"]),  # one scope instance must carry both
        ("/R", ["rep"]),  # valid until replaced at 12:30
        ("/S", ["rep"]),  # valid from 12:30
        ("/M", ["mid"]),  # set within the window
        ("/Z", []),  # set only after the window
        ("/OLD", []),  # replaced before the window
        ("/NEW", ["gone"]),
        ("/+", ["both", "gone", "mid", "rep", "xx"]),  # both: its /C
    ],
)
def test_scope_q_is_checked_on_the_scopes_valid_in_the_window(
    fleet: TestClient, scope_q: str, expected: list[str]
) -> None:
    assert ids(scoped(fleet, scope_q)) == expected


@pytest.mark.parametrize(
    ("scope_q", "entity", "speeds"),
    [
        ("/M", "mid", [2]),  # set at 12:10: the 12:05 reading is not under it
        ("/R", "rep", [1]),  # replaced at 12:30
        ("/S", "rep", [2]),  # valid from 12:30
        ("/R|/S", "rep", [1, 2]),
        ("/A/B", "ab", [1]),  # valid since before the window
    ],
)
def test_scope_q_answers_the_instances_observed_under_a_matching_scope(
    fleet: TestClient, scope_q: str, entity: str, speeds: list[int]
) -> None:
    r = scoped(fleet, scope_q, attrs="speed")
    body = {e["id"].rsplit("-", 1)[1]: e for e in r.json()}
    assert [i["value"] for i in body[entity]["speed"]] == speeds


def test_scope_history_is_shown_and_checked(fleet: TestClient) -> None:
    r = fleet.get(f"{NGSI}/temporal/entities/{B}rep")
    assert r.status_code == 200, r.text
    assert [i["value"] for i in r.json()["scope"]] == ["/R", "/S"]
    bad = fleet.post(
        f"{NGSI}/temporal/entities",
        json={"id": B + "bad", "type": "Bus", "scope": [scope("no-slash", IN)]},
    )
    assert bad.status_code == 400, bad.text
    assert "scope" in bad.json()["detail"]


def test_entity_writes_record_scope_changes(client: TestClient) -> None:
    """A scope set and changed through /entities is history; scopeQ sees each in its time."""
    eid = "urn:ngsi-ld:Bus:ts-live"
    body = {"id": eid, "type": "Bus", "scope": "/Old", "speed": {"type": "Property", "value": 1}}
    assert client.post(f"{NGSI}/entities", json=body).status_code == 201
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    replaced = {"type": "Bus", "scope": "/New", "speed": {"type": "Property", "value": 2}}
    r = client.put(f"{NGSI}/entities/{eid}", json=replaced)
    assert r.status_code == 204, r.text
    time.sleep(0.01)
    later = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)  # a reading after the replace, the scope unchanged
    r = client.patch(
        f"{NGSI}/entities/{eid}/attrs", json={"speed": {"type": "Property", "value": 3}}
    )
    assert r.status_code == 204, r.text
    everything = {"type": "Bus", "idPattern": ".*ts-live"}
    # 4.5.6: the scope's history is a Property whose observedAt copies modifiedAt
    r = client.get(f"{NGSI}/temporal/entities/{eid}", params={"options": "sysAttrs"})
    scopes = r.json()["scope"]
    assert [i["value"] for i in scopes] == [["/Old"], ["/New"]]
    assert all(i["observedAt"] == i["modifiedAt"] for i in scopes)
    windows = {
        "all": {},
        "before the replace": {"timerel": "before", "timeAt": between},
        "after the replace": {"timerel": "after", "timeAt": later},
        "across it": {"timerel": "between", "timeAt": between, "endTimeAt": later},
    }
    expected = {
        ("all", "/Old"): True,
        ("all", "/New"): True,
        ("before the replace", "/Old"): True,
        ("before the replace", "/New"): False,  # set after the window
        ("after the replace", "/Old"): False,  # replaced before the window
        ("after the replace", "/New"): True,  # valid since, without a new instance
        ("across it", "/Old"): True,
        ("across it", "/New"): True,
    }
    for (window, scope_q), hit in expected.items():
        params = {**everything, **windows[window], "scopeQ": scope_q}
        r = client.get(f"{NGSI}/temporal/entities", params=params)
        assert r.status_code == 200, r.text
        assert [e["id"] for e in r.json()] == ([eid] if hit else []), (window, scope_q)
    # without scope history the current scope counts (history deleted here)
    r = client.delete(f"{NGSI}/temporal/entities/{eid}/attrs/scope")
    assert r.status_code == 204, r.text
    r = client.get(f"{NGSI}/temporal/entities", params={**everything, "scopeQ": "/Old"})
    assert r.json() == []
    r = client.get(f"{NGSI}/temporal/entities", params={**everything, "scopeQ": "/New"})
    assert [e["id"] for e in r.json()] == [eid]


GEO_TEXT = st.text(st.sampled_from(list('[]0123456789.,-;=" nearmaxDistncwithPolyg')), max_size=30)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    georel=st.one_of(
        GEO_TEXT, st.sampled_from(["near;maxDistance==10", "within", "near;minDistance==0"])
    ),
    geometry=st.sampled_from(["Point", "Polygon", "LineString", "MultiPolygon", "x"]),
    coordinates=st.one_of(GEO_TEXT, st.sampled_from(["[1,2]", json.dumps(BOX)])),
    scope_q=st.one_of(st.none(), st.text(st.sampled_from(list("/AB#+;|,()x ")), max_size=12)),
)
def test_any_geo_or_scope_query_gives_200_or_400(
    fleet: TestClient, georel: str, geometry: str, coordinates: str, scope_q: str | None
) -> None:
    params = {"georel": georel, "geometry": geometry, "coordinates": coordinates, **WINDOW}
    if scope_q is not None:
        params["scopeQ"] = scope_q
    r = fleet.get(f"{NGSI}/temporal/entities", params={"type": "Vehicle,Bus", **params})
    assert r.status_code in (200, 400), (params, r.status_code, r.text)
