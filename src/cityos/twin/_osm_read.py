"""Read the drivable OSM way segments of a ``.osm.pbf`` file with pyrosm (the I/O edge).

pyrosm (MIT and BSD-3-Clause) parses the protobuf file and splits every way at its nodes, so each
row it returns is one straight segment between two consecutive OSM nodes. This module turns
its (geo)pandas frames into plain arrays and strings; nothing downstream imports pandas.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Tags read from the JSON "other tags" column that pyrosm keeps beside its own columns.
EXTRA_TAGS = ("junction", "lanes:forward", "lanes:backward")


class OsmReadError(ValueError):
    """The OSM file cannot be read or holds no drivable road."""


@dataclass(frozen=True)
class OsmSegments:
    """Drivable way segments as drawn in OSM (one direction of digitising each)."""

    u: IntArray  # OSM node id at the start
    v: IntArray  # OSM node id at the end
    way_id: IntArray  # OSM way id
    highway: tuple[str, ...]
    oneway: tuple[str, ...]  # raw tag, "" when absent
    maxspeed: tuple[str, ...]  # raw tag, "" when absent
    lanes: tuple[str, ...]  # raw tag, "" when absent
    lanes_forward: tuple[str, ...]
    lanes_backward: tuple[str, ...]
    junction: tuple[str, ...]
    name: tuple[str, ...]
    node_id: IntArray  # OSM node ids with coordinates
    node_lon: FloatArray  # [deg]
    node_lat: FloatArray  # [deg]

    def __len__(self) -> int:
        return len(self.u)


def _text(values: Iterable[Any]) -> tuple[str, ...]:
    # pandas marks a missing tag with None or NaN (the one value unequal to itself)
    return tuple("" if (x is None or x != x) else str(x) for x in values)


def read_segments(path: Path, bbox: tuple[float, float, float, float] | None = None) -> OsmSegments:
    """Read the drivable road segments of ``path``, optionally clipped to ``bbox``.

    ``bbox`` is (min lon, min lat, max lon, max lat) [deg].
    """
    import pyrosm  # imported here: pyrosm pulls in geopandas, which only this edge needs

    if not Path(path).is_file():
        raise OsmReadError(f"no such OSM file: {path}")
    osm = pyrosm.OSM(str(path), bounding_box=list(bbox) if bbox is not None else None)
    with warnings.catch_warnings():
        # pyrosm warns about an empty area; this function raises OsmReadError for it instead.
        warnings.filterwarnings("ignore", "Could not find any edges", UserWarning)
        got = osm.get_network(network_type="driving", nodes=True)
    if got is None or got[1] is None or len(got[1]) == 0:
        raise OsmReadError(f"{path} holds no drivable road" + (f" in {bbox}" if bbox else ""))
    nodes, edges = got

    def col(name: str) -> tuple[str, ...]:
        return _text(edges[name]) if name in edges.columns else ("",) * len(edges)

    extra: dict[str, list[str]] = {k: [] for k in EXTRA_TAGS}
    tag_col = edges["tags"] if "tags" in edges.columns else [None] * len(edges)
    for raw in tag_col:
        tags = json.loads(raw) if isinstance(raw, str) and raw else {}
        for k in EXTRA_TAGS:
            extra[k].append(str(tags.get(k, "")))
    return OsmSegments(
        u=edges["u"].to_numpy(dtype=np.int64),
        v=edges["v"].to_numpy(dtype=np.int64),
        way_id=edges["id"].to_numpy(dtype=np.int64),
        highway=col("highway"),
        oneway=col("oneway"),
        maxspeed=col("maxspeed"),
        lanes=col("lanes"),
        lanes_forward=tuple(extra["lanes:forward"]),
        lanes_backward=tuple(extra["lanes:backward"]),
        junction=tuple(extra["junction"]),
        name=col("name"),
        node_id=nodes["id"].to_numpy(dtype=np.int64),
        node_lon=nodes["lon"].to_numpy(dtype=np.float64),
        node_lat=nodes["lat"].to_numpy(dtype=np.float64),
    )
