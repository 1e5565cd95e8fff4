"""SUMO plain-XML export: well-formed files, consistent ids, units, projection, demand."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from cityos.twin._cli_network import network_app
from cityos.twin.city import City
from cityos.twin.demand import CAR, Trips, build_trips
from cityos.twin.population import PopulationParams, build_population
from cityos.twin.sumo import (
    SUMO_LANE_VEH_H,
    car_trips,
    connections_xml,
    edges_xml,
    nodes_xml,
    sumo_files,
    utm_proj,
)

SEED = 11


@pytest.fixture(scope="module")
def trips(city: City) -> Trips:
    pop = build_population(city, PopulationParams(seed=SEED, scale=0.02))
    return build_trips(city, pop, seed=SEED)


@pytest.fixture(scope="module")
def files(city: City, trips: Trips) -> dict[str, ET.Element]:
    return {k: ET.fromstring(v) for k, v in sumo_files(city, trips, seed=SEED).items()}


def test_every_file_is_well_formed(files: dict[str, ET.Element]) -> None:
    assert set(files) == {
        "cityos.nod.xml",
        "cityos.edg.xml",
        "cityos.con.xml",
        "cityos.rou.xml",
        "cityos.netccfg",
        "cityos.sumocfg",
    }
    assert files["cityos.nod.xml"].tag == "nodes"
    assert files["cityos.edg.xml"].tag == "edges"
    assert files["cityos.rou.xml"].tag == "routes"


def test_edges_match_the_network(city: City, files: dict[str, ET.Element]) -> None:
    net = city.network
    nodes = {n.get("id") for n in files["cityos.nod.xml"].iter("node")}
    edges = list(files["cityos.edg.xml"].iter("edge"))
    assert nodes == set(net.node_id)
    assert [e.get("id") for e in edges] == list(net.link_id)
    for e in edges:
        k = net.link_index[str(e.get("id"))]
        assert e.get("from") == net.node_id[int(net.link_from[k])]
        assert e.get("to") == net.node_id[int(net.link_to[k])]
        lanes = int(str(e.get("numLanes")))
        if net.road_class[k] == "connector":
            # 9,999 veh/h: as many SUMO lanes (~1,800 veh/h each) as that capacity needs
            assert lanes == 6
            assert lanes * SUMO_LANE_VEH_H >= net.capacity_veh_h[k]
        else:  # the twin's roads carry less per lane than a SUMO lane: their own lanes
            assert lanes == net.lanes[k]
        # speed in m/s: km/h / 3.6 (e.g. 36 km/h -> 10 m/s)
        assert float(str(e.get("speed"))) == pytest.approx(net.free_flow_kmh[k] / 3.6, abs=1e-3)
        assert float(str(e.get("length"))) == pytest.approx(net.length_m[k], abs=0.01)
        assert len(str(e.get("shape")).split()) == len(net.geometry[k])
    speeds = [float(str(e.get("speed"))) for e in edges]
    assert max(speeds) < 130 / 3.6 + 1e-6


def test_location_projects_back_to_lon_lat(city: City, files: dict[str, ET.Element]) -> None:
    root = files["cityos.nod.xml"]
    loc = root.find("location")
    assert loc is not None
    proj = str(loc.get("projParameter"))
    assert proj == utm_proj(127.27, 36.5)
    assert "+zone=52" in proj  # Sejong lies in UTM zone 52N
    dx, dy = (float(v) for v in str(loc.get("netOffset")).split(","))
    back = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    net = city.network
    for node in root.iter("node"):
        i = net.node_index[str(node.get("id"))]
        lon, lat = back.transform(float(str(node.get("x"))) - dx, float(str(node.get("y"))) - dy)
        assert lon == pytest.approx(net.node_lon[i], abs=1e-6)
        assert lat == pytest.approx(net.node_lat[i], abs=1e-6)


def test_trips_use_existing_edges_sorted_by_departure(
    city: City, trips: Trips, files: dict[str, ET.Element]
) -> None:
    net = city.network
    edges = {e.get("id"): e for e in files["cityos.edg.xml"].iter("edge")}
    rou = files["cityos.rou.xml"]
    assert [v.get("id") for v in rou.iter("vType")] == ["car"]
    got = list(rou.iter("trip"))
    cars = (trips.mode == CAR) & (trips.origin != trips.destination)
    assert len(got) == int(cars.sum()) > 1000
    depart = np.array([float(str(t.get("depart"))) for t in got])
    assert np.all(np.diff(depart) >= 0)
    assert depart.min() >= 0
    for t in got:
        src, dst = edges[t.get("from")], edges[t.get("to")]
        i = int(str(t.get("id"))[1:])
        assert trips.mode[i] == CAR
        # Trips leave their origin's centroid and arrive at their destination's centroid.
        assert src.get("from") == f"Z{city.zones.code[trips.origin[i]]}"
        assert dst.get("to") == f"Z{city.zones.code[trips.destination[i]]}"
        minute = int(trips.departure_min[i])
        assert minute * 60 <= float(str(t.get("depart"))) < (minute + 1) * 60 + 0.01
    assert net.node_kind[net.node_index[str(src.get("from"))]] == "centroid"


def test_no_through_traffic_at_centroids(city: City) -> None:
    net = city.network
    root = ET.fromstring(connections_xml(net))
    deletes = {(d.get("from"), d.get("to")) for d in root.iter("delete")}
    for c in (i for i, k in enumerate(net.node_kind) if k == "centroid"):
        ins = np.flatnonzero(net.link_to == c)
        outs = np.flatnonzero(net.link_from == c)
        for i in ins:
            for o in outs:
                assert (net.link_id[i], net.link_id[o]) in deletes
    assert len(deletes) == sum(
        int((net.link_to == c).sum() * (net.link_from == c).sum())
        for c in range(len(net.node_id))
        if net.node_kind[c] == "centroid"
    )


def test_export_is_deterministic(city: City, trips: Trips) -> None:
    a, b = car_trips(city, trips, seed=SEED), car_trips(city, trips, seed=SEED)
    np.testing.assert_array_equal(a.depart_s, b.depart_s)
    assert a.from_edge == b.from_edge
    assert nodes_xml(city.network) == nodes_xml(city.network)
    assert edges_xml(city.network) == edges_xml(city.network)
    other = car_trips(city, trips, seed=SEED + 1)
    assert not np.array_equal(np.sort(a.depart_s), np.sort(other.depart_s))


def test_cli_export_sumo(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        network_app, ["export-sumo", str(tmp_path), "--scale", "0.01", "--seed", "3"]
    )
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"cityos.{x}" for x in ("nod.xml", "edg.xml", "con.xml", "rou.xml", "netccfg", "sumocfg")
    )
    assert "netconvert -c cityos.netccfg" in res.output
    only_net = tmp_path / "net"
    res = CliRunner().invoke(network_app, ["export-sumo", str(only_net), "--no-demand"])
    assert res.exit_code == 0, res.output
    assert not (only_net / "cityos.rou.xml").exists()
    bad = CliRunner().invoke(network_app, ["export-sumo", str(tmp_path), "--scale", "9"])
    assert bad.exit_code == 2
