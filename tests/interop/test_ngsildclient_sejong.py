"""Interoperability: ngsildclient reads the built-in Sejong districts from a seeded CityOS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from cityos.hub.seed import SMART_DATA_MODELS_CONTEXT

if TYPE_CHECKING:
    from tests.interop.conftest import RunningServer

# installed by scripts/setup.sh; a missing client must fail the run, never skip it

from ngsildclient import Client

GOVERNMENT_COMPLEX = [127.2653, 36.5047]  # [lon, lat], Government Complex Sejong


@pytest.fixture(scope="module")
def seed_city() -> bool:
    """Load Sejong into this module's hub on start."""
    return True


@pytest.fixture(scope="module")
def client(cityos_server: RunningServer) -> Iterator[Client]:
    """Yield an ngsildclient Client connected to the seeded CityOS server."""
    with Client(hostname=cityos_server.host, port=cityos_server.port, verbose=False) as c:
        yield c


def test_sejong_has_24_districts(client: Client) -> None:
    districts = client.query(type="AdministrativeArea", ctx=SMART_DATA_MODELS_CONTEXT)

    assert client.count(type="AdministrativeArea") == 24
    assert len(districts) == 24
    assert "조치원읍" in {d["name.value"] for d in districts}
    assert {d["refCity.object"] for d in districts} == {"urn:ngsi-ld:City:sejong:36110"}


def test_government_complex_lies_in_eojin_dong(client: Client) -> None:
    query = {
        "type": "Query",
        "entities": [{"type": "AdministrativeArea"}],
        "geoQ": {"georel": "intersects", "geometry": "Point", "coordinates": GOVERNMENT_COMPLEX},
    }

    (district,) = client.alt.query(query, ctx=SMART_DATA_MODELS_CONTEXT)

    assert district["name.value"] == "어진동"
    assert district["alternateName.value"] == "Eojin-dong"
