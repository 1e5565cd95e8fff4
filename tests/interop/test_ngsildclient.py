"""Interoperability: the ngsildclient library (PyPI) drives a real CityOS server over TCP.

Everything here goes through the client's own API (entity builder, Client, batch, alt query)
and its exception types; nothing is sent by hand. Each test uses its own ids or entity type,
so the tests share one server per backend without depending on each other's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.interop.conftest import RunningServer

# installed by scripts/setup.sh; a missing client must fail the run, never skip it

from ngsildclient import Client, Entity
from ngsildclient.api.exceptions import (
    NgsiAlreadyExistsError,
    NgsiBadRequestDataError,
    NgsiResourceNotFoundError,
)

URN = "urn:ngsi-ld"
# Hansol-dong, Sejong (GeoJSON order is [lon, lat]; the client's `loc` takes lat, lon).
HANSOL = (36.4800, 127.2570)
OBSERVED_AT = "2026-11-25T00:00:00Z"


@pytest.fixture(scope="module")
def client(cityos_server: RunningServer) -> Iterator[Client]:
    """Yield an ngsildclient Client connected to the module's CityOS server."""
    with Client(hostname=cityos_server.host, port=cityos_server.port, verbose=False) as c:
        yield c


def air_quality(name: str, pm25: float, lat: float, lon: float) -> Entity:
    """Build an AirQualityObserved entity with the client's builder."""
    return (
        Entity("AirQualityObserved", name)
        .prop("pm25", pm25, unitcode="GQ", observedat=OBSERVED_AT)
        .prop("no2", 31.5, unitcode="GQ", observedat=OBSERVED_AT)
        .rel("refDevice", f"{URN}:Device:{name}")
        .loc(lat, lon)
    )


def without_context(entity: Entity) -> dict:
    """Return the entity as a dict without its @context (the broker names its own)."""
    return {k: v for k, v in entity.to_dict().items() if k != "@context"}


def test_client_connects_to_cityos(client: Client) -> None:
    assert client.is_connected()


def test_create_and_retrieve_built_entity(client: Client) -> None:
    entity = air_quality("hansol-1", 23, *HANSOL)
    assert entity.id == f"{URN}:AirQualityObserved:hansol-1"

    assert client.create(entity) is True
    got = client.get(entity.id)

    assert client.exists(entity.id)
    assert got.id == entity.id
    assert got.type == "AirQualityObserved"
    assert got["pm25"] == {
        "type": "Property",
        "value": 23,
        "unitCode": "GQ",
        "observedAt": OBSERVED_AT,
    }
    assert got["refDevice"] == {"type": "Relationship", "object": f"{URN}:Device:hansol-1"}
    assert got["location"] == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [127.257, 36.48]},
    }
    assert got.relationships == [("refDevice", f"{URN}:Device:hansol-1")]


def test_create_existing_entity_raises_already_exists(client: Client) -> None:
    entity = air_quality("dodam-1", 12, 36.5150, 127.2600)
    client.create(entity)

    with pytest.raises(NgsiAlreadyExistsError) as raised:
        client.create(entity)

    problem = raised.value.problemdetails
    assert problem.status == 409
    assert problem.type == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"


def test_retrieve_missing_entity_raises_resource_not_found(client: Client) -> None:
    with pytest.raises(NgsiResourceNotFoundError) as raised:
        client.get(f"{URN}:AirQualityObserved:nowhere")

    assert raised.value.problemdetails.status == 404
    assert not client.exists(f"{URN}:AirQualityObserved:nowhere")


def test_invalid_entity_is_reported_as_bad_request(client: Client) -> None:
    broken = Entity("AirQualityObserved", "broken-1").prop("pm25", 5)
    broken["pm25"] = {"type": "Relationship"}  # a Relationship without an object

    with pytest.raises(NgsiBadRequestDataError) as raised:
        client.create(broken)

    assert raised.value.problemdetails.status == 400
    assert not client.exists(broken.id)


def test_batch_update_appends_and_overwrites_attributes(client: Client) -> None:
    client.create(air_quality("areum-1", 40, 36.4950, 127.2450))
    patch = (
        Entity("AirQualityObserved", "areum-1")
        .prop("pm25", 18, unitcode="GQ", observedat="2026-11-25T01:00:00Z")
        .prop("temperature", 7.5, unitcode="CEL")
    )

    result = client.update([patch])  # POST /entityOperations/update

    assert result.ok
    got = client.get(patch.id)
    assert got["pm25.value"] == 18
    assert got["pm25.observedAt"] == "2026-11-25T01:00:00Z"
    assert got["temperature"] == {"type": "Property", "value": 7.5, "unitCode": "CEL"}
    assert got["no2.value"] == 31.5  # untouched attributes stay
    assert got["refDevice.object"] == f"{URN}:Device:areum-1"


def test_batch_update_without_overwrite_keeps_existing_values(client: Client) -> None:
    client.create(air_quality("saerom-1", 40, 36.4850, 127.2500))
    patch = Entity("AirQualityObserved", "saerom-1").prop("pm25", 99).prop("o3", 0.03)

    # options=noOverwrite: o3 is added, the existing pm25 is kept and reported (207, 5.6.9)
    result = client.update([patch], overwrite=False)
    assert not result.ok
    assert len(result.errors) == 1

    got = client.get(patch.id)
    assert got["pm25.value"] == 40
    assert got["o3.value"] == 0.03


def test_upsert_in_update_mode_merges_and_in_replace_mode_replaces(client: Client) -> None:
    client.create(air_quality("boram-1", 30, 36.4800, 127.2650))

    merged = Entity("AirQualityObserved", "boram-1").prop("co", 0.4, unitcode="GP")
    assert client.upsert([merged], update=True).ok
    got = client.get(merged.id)
    assert got["co.value"] == 0.4
    assert got["pm25.value"] == 30

    replaced = Entity("AirQualityObserved", "boram-1").prop("co", 0.5, unitcode="GP")
    assert client.upsert([replaced]).ok  # options=replace
    got = client.get(replaced.id)
    assert got["co.value"] == 0.5
    assert "pm25" not in got.to_dict()


def test_single_entity_update_and_delete(client: Client) -> None:
    entity = air_quality("goun-1", 55, 36.5100, 127.2300)
    client.create(entity)

    entity["pm25.value"] = 60  # Client.update on one entity replaces it (delete + create)
    assert client.update(entity) is True
    assert client.get(entity.id)["pm25.value"] == 60

    assert client.delete(entity) is True
    assert not client.exists(entity.id)
    with pytest.raises(NgsiResourceNotFoundError):
        client.delete(entity)


@pytest.fixture(scope="module")
def noise_levels(client: Client) -> list[Entity]:
    """Upsert 100 NoiseLevelObserved entities along a line in one batch; return them."""
    entities = [
        Entity("NoiseLevelObserved", f"n{i:03d}")
        .prop("LAeq", float(i), unitcode="2N", observedat=OBSERVED_AT)
        .prop("district", "Hansol-dong" if i % 2 else "Dodam-dong")
        .loc(36.48, 127.20 + i * 0.001)
        for i in range(100)
    ]
    result = client.upsert(entities)
    assert result.ok, result.errors
    assert result.n_ok == 100
    return entities


def test_batch_upsert_stores_every_entity(client: Client, noise_levels: list[Entity]) -> None:
    assert client.count(type="NoiseLevelObserved") == 100
    assert client.get(noise_levels[42].id)["LAeq.value"] == 42.0
    assert "NoiseLevelObserved" in client.types.list()


def test_query_by_type_pages_through_all_results(
    client: Client, noise_levels: list[Entity]
) -> None:
    found = client.query(type="NoiseLevelObserved", limit=30)  # 4 pages

    assert sorted(e.id for e in found) == sorted(e.id for e in noise_levels)


def test_query_and_count_with_q(client: Client, noise_levels: list[Entity]) -> None:
    q = 'LAeq>=90;district=="Hansol-dong"'

    found = client.query(type="NoiseLevelObserved", q=q)

    assert client.count(type="NoiseLevelObserved", q=q) == 5
    assert sorted(e["LAeq.value"] for e in found) == [91.0, 93.0, 95.0, 97.0, 99.0]
    assert client.count(type="NoiseLevelObserved", q="LAeq<10|LAeq>95") == 14
    (seven,) = client.query_head(type="NoiseLevelObserved", q="LAeq==7")
    assert without_context(seven) == without_context(noise_levels[7])


def test_geo_query_through_the_query_endpoint(client: Client, noise_levels: list[Entity]) -> None:
    # ngsildclient sends GET geo-queries as a `geoQ` URL parameter, which GET /entities does
    # not define (v1.8 uses georel/geometry/coordinates), so geo goes through its `alt` API:
    # POST /entityOperations/query with a Query body, where `geoQ` is defined (5.2.23).
    query = {
        "type": "Query",
        "entities": [{"type": "NoiseLevelObserved"}],
        "geoQ": {
            "georel": "near;maxDistance==500",
            "geometry": "Point",
            "coordinates": [127.25, 36.48],
        },
    }

    found = client.alt.query(query)

    # 0.001 degrees of longitude at 36.48 N is about 89.5 m, so 500 m reaches 5 steps each way.
    assert sorted(e["LAeq.value"] for e in found) == [float(i) for i in range(45, 56)]
    assert client.alt.count(query) == 11
    within = dict(query, q="LAeq>52")
    assert sorted(e.id for e in client.alt.query(within)) == [
        f"{URN}:NoiseLevelObserved:n053",
        f"{URN}:NoiseLevelObserved:n054",
        f"{URN}:NoiseLevelObserved:n055",
    ]


def test_batch_delete_reports_missing_entities(client: Client) -> None:
    entities = [air_quality(f"jochiwon-{i}", i, 36.60, 127.29) for i in range(3)]
    assert client.create(entities).ok  # several entities go through /entityOperations/create
    missing = f"{URN}:AirQualityObserved:jochiwon-404"

    result = client.delete([*entities, missing])

    assert sorted(result.success) == sorted(e.id for e in entities)
    assert [error["entityId"] for error in result.errors] == [missing]
    assert not any(client.exists(e.id) for e in entities)
