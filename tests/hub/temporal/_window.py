"""The time window of the temporal query tests and the fleet written around it.

test_temporal_q.py, test_temporal_paths.py and test_temporal_geo_scope.py (after the ETSI
suite's 5744_01, 5744_03 and 5744_04) each write entities with instances inside the window
(``IN``) and outside it (``OUT``), then query that window: an instance outside must never
satisfy a term. Each names its entities ``<prefix>-<word>`` or ``…:<word>``; :func:`ids`
returns the words.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

NGSI = "/ngsi-ld/v1"
IN = "2026-03-01T12:00:00Z"
OUT = "2026-01-05T00:00:00Z"
WINDOW = {
    "timerel": "between",
    "timeAt": "2026-03-01T00:00:00Z",
    "endTimeAt": "2026-03-02T00:00:00Z",
}


def prop(value: Any, when: str, **more: Any) -> dict[str, Any]:
    """Return a Property instance observed at ``when``."""
    return {"type": "Property", "value": value, "observedAt": when, **more}


def write_fleet(client: TestClient, bodies: list[dict[str, Any]]) -> TestClient:
    """Create each temporal entity of ``bodies``; return the client for the queries."""
    for body in bodies:
        r = client.post(f"{NGSI}/temporal/entities", json=body)
        assert r.status_code == 201, r.text
    return client


def word(entity_id: str) -> str:
    """Return the last word of an entity id (``urn:ngsi-ld:Vehicle:tp-kmh`` → ``kmh``)."""
    return re.split("[:-]", entity_id)[-1]


def ids(r: Any) -> list[str]:
    """Return the sorted last words of the ids of a 200 answer's entities."""
    assert r.status_code == 200, r.text
    return sorted(word(e["id"]) for e in r.json())


def query(client: TestClient, q: str, **more: str) -> Any:
    """GET the Vehicles whose instances in the window satisfy ``q``."""
    return client.get(
        f"{NGSI}/temporal/entities", params={"type": "Vehicle", "q": q, **WINDOW, **more}
    )
