"""Property tests over HTTP: no input, however strange, gets a 500 or changes data wrongly."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.test_api_entities import BASE, ERR

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TENANT = {"NGSILD-Tenant": "fuzz"}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
q_pieces = st.sampled_from(list('abc.[]()"=!<>~;|,0123456789-: ') + ["==", "..", "~=", "a>1"])
q_texts = st.lists(q_pieces, max_size=16).map("".join)


def _is_problem(r: Any) -> bool:
    body = r.json()
    return isinstance(body, dict) and body["type"].startswith(ERR) and bool(body["detail"])


@SETTINGS
@given(q=q_texts)
def test_any_q_gets_an_answer_or_a_400(client: TestClient, q: str) -> None:
    r = client.get(f"{BASE}/entities", params={"type": "Thing", "q": q}, headers=TENANT)
    assert r.status_code in (200, 400, 404), r.text
    if r.status_code != 200:
        assert _is_problem(r)


@SETTINGS
@given(
    georel=st.sampled_from(["near;maxDistance==100", "within", "near", "disjoint", "x"])
    | st.text(max_size=20),
    geometry=st.sampled_from(["Point", "Polygon", "LineString", "point"]) | st.text(max_size=8),
    coordinates=st.text(max_size=30) | json_values.map(str),
)
def test_any_geo_query_gets_an_answer_or_a_400(
    client: TestClient, georel: str, geometry: str, coordinates: str
) -> None:
    params = {"type": "Thing", "georel": georel, "geometry": geometry, "coordinates": coordinates}
    r = client.get(f"{BASE}/entities", params=params, headers=TENANT)
    assert r.status_code in (200, 400, 404), r.text
    if r.status_code != 200:
        assert _is_problem(r)


@SETTINGS
@given(attrs=st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_any_entity_body_is_created_or_refused_whole(
    client: TestClient, attrs: dict[str, Any]
) -> None:
    body = {"id": "urn:ngsi-ld:Thing:fuzz", "type": "Thing", **attrs}
    r = client.post(f"{BASE}/entities", json=body, headers=TENANT)
    assert r.status_code in (201, 400), r.text
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:Thing:fuzz", headers=TENANT)
    if r.status_code == 201:
        assert got.status_code == 200
        assert (
            client.delete(f"{BASE}/entities/urn:ngsi-ld:Thing:fuzz", headers=TENANT).status_code
            == 204
        )
    else:
        assert _is_problem(r)
        assert got.status_code == 404  # a refused entity leaves nothing behind


@SETTINGS
@given(body=json_values)
def test_any_batch_body_gets_a_batch_answer_or_a_400(client: TestClient, body: Any) -> None:
    r = client.post(
        f"{BASE}/entityOperations/upsert",
        content=json.dumps(body),
        headers={**TENANT, "Content-Type": "application/json"},
    )
    assert r.status_code in (201, 204, 207, 400), r.text
    if r.status_code == 207:
        assert set(r.json()) == {"success", "errors"}


def test_nul_characters_are_refused_not_stored(client: TestClient) -> None:
    r = client.post(
        f"{BASE}/entities",
        headers=TENANT,
        json={"id": "urn:ngsi-ld:Thing:nul", "type": "Thing", "p": "a\x00b"},
    )
    assert r.status_code == 400
    assert "NUL" in r.json()["detail"]
    r = client.get(f"{BASE}/entities", params={"type": "Thing\x00"}, headers=TENANT)
    assert r.status_code == 400
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Thing:a%00b", headers=TENANT)
    assert r.status_code == 400
