"""OSM import: tag rules by hand, chain merging, and pyrosm's Helsinki extract end to end."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pyrosm
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from typer.testing import CliRunner

from cityos.twin._cli_network import network_app
from cityos.twin._osm_graph import merge_chains
from cityos.twin._osm_read import read_segments
from cityos.twin._traffic_routes import RouteBook, road_graph, route_choices
from cityos.twin.city import City, Network, load_city
from cityos.twin.osm import (
    GEOD,
    HIGHWAY_DEFAULTS,
    OsmNetwork,
    OsmReadError,
    bundle_files,
    import_osm,
    network_only_files,
    parse_lanes,
    parse_maxspeed,
    read_network,
    travel_directions,
)
from cityos.twin.skims import distance_skim, road_skim
from cityos.twin.traffic import Routes, load_network, queue_links

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))  # shipped inside pyrosm, no download
# Four synthetic zones on the extract (central Helsinki, ~1 x 1.7 km) [deg].
HELSINKI_ZONES = ((24.940, 60.167), (24.950, 60.168), (24.940, 60.176), (24.950, 60.176))


@pytest.mark.parametrize(
    ("tag", "kmh"),
    [
        ("50", 50.0),
        ("30 mph", 30 * 1.609344),
        ("FI:urban", 50.0),
        ("KR:rural", 80.0),
        ("60;40", 60.0),
        ("walk", 7.0),
        ("none", None),
        ("signals", None),
        ("", None),
    ],
)
def test_maxspeed_values(tag: str, kmh: float | None) -> None:
    assert parse_maxspeed(tag) == (pytest.approx(kmh) if kmh is not None else None)


def test_lanes_and_directions() -> None:
    assert parse_lanes("2") == 2
    assert parse_lanes("2;3") == 2
    assert parse_lanes("many") is None
    assert parse_lanes("0") is None
    assert travel_directions("yes", "residential") == (True, False)
    assert travel_directions("-1", "residential") == (False, True)
    assert travel_directions("", "residential") == (True, True)
    assert travel_directions("", "motorway") == (True, False)  # implied by the class
    assert travel_directions("no", "motorway") == (True, True)  # the tag wins
    assert travel_directions("", "residential", "roundabout") == (True, False)


def test_defaults_table_is_per_lane_and_ordered() -> None:
    d = HIGHWAY_DEFAULTS
    assert d["motorway"].capacity_per_lane == 2000  # MATSim; HCM basic freeway is ~2,400 pc/h
    assert d["motorway"].speed_kmh > d["primary"].speed_kmh > d["residential"].speed_kmh
    assert d["living_street"].capacity_per_lane < d["residential"].capacity_per_lane
    assert all(x.source for x in d.values())


def test_merge_two_way_road_and_cut_a_loop() -> None:
    # Two-way road 0-1-2-3 (1 and 2 pass-through) and a one-way ring 3->4->5->3.
    a = np.array([0, 1, 2, 1, 2, 3, 3, 4, 5])
    b = np.array([1, 2, 3, 0, 1, 2, 4, 5, 3])
    chains = merge_chains(a, b, np.zeros(len(a), dtype=np.int64), 6)
    ends = {(int(a[chains.segments(k)[0]]), int(b[chains.segments(k)[-1]])) for k in range(4)}
    assert len(chains.length) == 4
    assert {(0, 3), (3, 0)} <= ends  # the road became one link each way
    for k in range(len(chains.length)):
        s = chains.segments(k)
        assert a[s[0]] != b[s[-1]]  # no self-loop
        np.testing.assert_array_equal(a[s[1:]], b[s[:-1]])  # contiguous
    # Different attributes on both sides of node 1 keep it.
    key = np.array([0, 1, 1, 0, 1, 1, 1, 1, 1])
    assert len(merge_chains(a, b, key, 6).length) == 6


@pytest.fixture(scope="module")
def helsinki() -> OsmNetwork:
    return import_osm(HELSINKI)


def _strongly_connected(net: Network) -> bool:
    n = len(net.node_id)
    g = csr_matrix((np.ones(len(net.link_id)), (net.link_from, net.link_to)), shape=(n, n))
    return connected_components(g, directed=True, connection="strong")[0] == 1


def test_helsinki_network_is_sane(helsinki: OsmNetwork) -> None:
    net = helsinki.network
    assert helsinki.segments == 1500  # drivable way segments in the shipped extract
    assert 150 <= len(net.node_id) <= 400  # junctions left after merging 1,437 OSM nodes
    assert len(net.node_id) < len(net.link_id) < 3 * len(net.node_id)
    assert _strongly_connected(net)
    assert np.all(net.capacity_veh_h > 0)
    assert set(net.road_class) <= set(HIGHWAY_DEFAULTS)
    assert 20 <= net.length_m.sum() / 1000 <= 40  # directed km of central Helsinki
    # Capacity = lanes x the class's capacity per lane.
    per_lane = np.array([HIGHWAY_DEFAULTS[c].capacity_per_lane for c in net.road_class])
    np.testing.assert_allclose(net.capacity_veh_h, net.lanes * per_lane)


def test_helsinki_speeds_come_from_maxspeed(helsinki: OsmNetwork) -> None:
    # Central Helsinki is tagged 30 and 40 km/h (2 of 1,500 segments untagged).
    speeds, counts = np.unique(helsinki.network.free_flow_kmh, return_counts=True)
    tagged = counts[np.isin(speeds, [30.0, 40.0])].sum()
    assert tagged >= 0.98 * len(helsinki.network.link_id)


def test_merging_keeps_length_and_two_way_lanes(helsinki: OsmNetwork) -> None:
    seg = read_segments(HELSINKI)
    assert helsinki.kept < helsinki.directed <= 2 * helsinki.segments
    net = helsinki.network
    assert sum(len(g) - 1 for g in net.geometry) == helsinki.kept  # every segment, once
    assert max(len(g) for g in net.geometry) > 2  # some links merged several segments
    # A link is as long as its geometry (the WGS84 geodesic along the OSM nodes).
    along = [float(GEOD.line_length(g[:, 0], g[:, 1])) for g in net.geometry]
    np.testing.assert_allclose(net.length_m, along, atol=0.5)  # coords rounded to 1e-6 deg
    # A two-way 'lanes=2' road has one lane per direction.
    two_way = {
        int(w)
        for w, o, ln in zip(seg.way_id, seg.oneway, seg.lanes, strict=True)
        if o in ("", "no") and ln == "2"
    }
    for lid, tags in helsinki.link_tags.items():
        if tags["osm_way"] in two_way:
            assert net.lanes[net.link_index[lid]] == 1
    with pytest.raises(OsmReadError, match="no drivable road"):
        read_segments(HELSINKI, (24.9, 59.0, 24.91, 59.01))  # the sea south of Helsinki


def test_files_round_trip(helsinki: OsmNetwork, tmp_path: Path) -> None:
    files = network_only_files(helsinki, "Helsinki.osm.pbf")
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    back = read_network(tmp_path)
    net = helsinki.network
    assert back.node_id == net.node_id
    assert back.link_id == net.link_id
    np.testing.assert_array_equal(back.link_from, net.link_from)
    np.testing.assert_allclose(back.capacity_veh_h, net.capacity_veh_h)
    np.testing.assert_allclose(back.length_m, net.length_m)
    manifest = json.loads(files["manifest.json"])
    assert "ODbL" in manifest["licence"]
    assert manifest["links"] == len(net.link_id)
    feature = json.loads(files["links.geojson"])["features"][0]
    assert feature["properties"]["origin"] == "osm"
    assert isinstance(feature["properties"]["osm_way"], int)


def _helsinki_zones_csv() -> str:
    """Return four Sejong zone rows moved onto Helsinki (synthetic test zones)."""
    text = resources.files("cityos").joinpath("data/twin/zones.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))[:4]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for row, (lon, lat) in zip(rows, HELSINKI_ZONES, strict=True):
        w.writerow({**row, "lon": lon, "lat": lat})
    return buf.getvalue()


@pytest.fixture(scope="module")
def helsinki_city(helsinki: OsmNetwork, tmp_path_factory: pytest.TempPathFactory) -> City:
    out = tmp_path_factory.mktemp("helsinki-bundle")
    for name, text in bundle_files(helsinki, _helsinki_zones_csv(), source="test").items():
        (out / name).write_text(text, encoding="utf-8")
    return load_city(out)


def test_skims_run_on_the_imported_network(helsinki_city: City) -> None:
    car = road_skim(helsinki_city)
    km = distance_skim(helsinki_city)
    assert car.shape == (4, 4)
    assert np.all(np.isfinite(car))
    assert np.all(car > 0)
    off = ~np.eye(4, dtype=bool)
    assert np.all((km[off] > 0.4) & (km[off] < 4.0))  # zones 0.5-1.5 km apart [km]
    # Detour factor of a street grid: road distance / straight line in a plausible range.
    assert np.all(km[0, 1] >= 0.55 * 0.9)


def test_traffic_loads_od_pairs_on_the_imported_network(helsinki_city: City) -> None:
    graph = road_graph(helsinki_city)
    free = helsinki_city.network.free_flow_time_min
    need = np.zeros((1, 4, 4), dtype=bool)
    pairs = [(0, 3), (3, 0), (1, 2), (2, 1)]
    for o, d in pairs:
        need[0, o, d] = True
    book = RouteBook()
    rid, cost = route_choices(graph, free[None, :], need, book)
    routes = book.csr()
    route = np.repeat([rid[0, o, d] for o, d in pairs], 50)  # 50 cars per pair
    depart = np.tile(np.linspace(480.0, 490.0, 50), len(pairs))  # 08:00-08:10 [min]
    loading = load_network(queue_links(helsinki_city), routes, route, depart)
    assert np.all(np.isfinite(loading.arrival_min))
    took = loading.arrival_min - depart
    best = np.repeat([cost[0, o, d] for o, d in pairs], 50)
    assert np.all(took >= best - 1e-6)  # never faster than free flow
    assert loading.entered.sum() == loading.left.sum() == len(route)
    assert isinstance(routes, Routes)


def test_cli_import_osm(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "zones.csv").write_text(_helsinki_zones_csv(), encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "net"
    res = runner.invoke(
        network_app,
        ["import-osm", str(HELSINKI), "--out", str(out), "--zones-from", str(zones)],
    )
    assert res.exit_code == 0, res.output
    assert "residential" in res.output
    city = load_city(out)
    assert len(city.zones) == 4
    assert sum(k == "centroid" for k in city.network.node_kind) == 4
    clipped = tmp_path / "clipped"
    res = runner.invoke(
        network_app,
        ["import-osm", str(HELSINKI), "--out", str(clipped), "--bbox", "24.94,60.165,24.95,60.175"],
    )
    assert res.exit_code == 0, res.output
    assert len(read_network(clipped).link_id) < len(read_network(out).link_id)
    bad = runner.invoke(
        network_app, ["import-osm", str(HELSINKI), "--out", str(out), "--bbox", "1,2"]
    )
    assert bad.exit_code != 0
    wrong = runner.invoke(
        network_app, ["import-osm", str(HELSINKI), "--out", str(out), "--zones-from", "builtin"]
    )
    assert wrong.exit_code == 2  # Sejong's zones are nowhere near Helsinki
    assert "zone centroid" in wrong.output
