"""Small geodesic and formatting helpers shared by the twin bundle builder and loader."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pyproj import Geod

GEOD = Geod(ellps="WGS84")
COORD_DECIMALS = 6


def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the WGS84 geodesic distance between two points [m]."""
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def line_length_m(coords: Sequence[tuple[float, float]]) -> float:
    """Return the geodesic length of a lon/lat polyline [m]."""
    return sum(
        geodesic_m(a[0], a[1], b[0], b[1]) for a, b in zip(coords[:-1], coords[1:], strict=True)
    )


def rc(value: float) -> float:
    """Round a coordinate to the bundle's grid [deg]."""
    return round(value, COORD_DECIMALS)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return rows as CSV text with ``\\n`` line ends and a header."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def json_text(obj: Any) -> str:
    """Return compact JSON with sorted keys and a final newline (byte-stable)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
