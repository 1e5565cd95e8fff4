"""Z-order (Morton) cells of points: the SQLite store's geo pre-filter for Point geometries.

A point's cell is its longitude and latitude, each quantised to ``BITS`` bits over the whole
range (360° and 180°: ~1.7e-7° a step, under 2 cm), with the bits interleaved (longitude in
the even bits, latitude in the odd ones), so that the points of any square of the quadtree
over the world hold one contiguous range of cells. ``hub_geo`` keeps a point's cell, longitude
and latitude in a B-tree index (migration 0016, ``hub_geo_cell``); a search window becomes a
few dozen cell ranges (:func:`window_ranges`), each an index range scan, with the exact
longitude and latitude bounds tested in the same index entries.

Why not the R*Tree for points: SQLite's R*Tree rewrites a node blob (~4 KB) and chooses
subtrees per inserted box; with 50,000–100,000 points stored, a transaction of 1,000 new
points cost about 25 µs a point with the R*Tree against 15 µs with the cell index (the
``hub_geo`` row included; benchmarks/sqlite_geo_index.py, docs/benchmarks.md), and the insert
runs under the store's write lock. Other geometries (lines, polygons, collections) stay in
the R*Tree, where a box is the right key.
"""

from __future__ import annotations

from typing import Final

BITS: Final = 31  # per axis; a cell fits SQLite's signed 64-bit INTEGER (62 bits)
_TOP: Final = (1 << BITS) - 1
_X_SCALE: Final = (1 << BITS) / 360.0
_Y_SCALE: Final = (1 << BITS) / 180.0
# what point_cell computes with, for its copy in C (_native_lane: the lane's points)
CELL_SCALES: Final = (_X_SCALE, _Y_SCALE, _TOP)
# Quadtree levels searched below the one whose squares are as large as the window: each
# level halves the squares along the window's edge (more ranges, fewer points outside the
# window read from the index). The index holds each point's longitude and latitude, so a
# point outside the window costs one index entry read, no table row: for 1 km near-windows
# over 100,000 points 2 levels (6 ranges, ~1.9x the window's area) took 0.43 ms, 3 0.46,
# 4 0.57, 5 0.81, 6 1.29 (medians; benchmarks/sqlite_geo_index.py's points and windows).
DEPTH: Final = 2


def _spread(v: int) -> int:
    """Return ``v`` (< 2**32) with a zero bit put after each of its bits."""
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


# _spread of every 16-bit number: a point's cell is four look-ups (~1.2 µs against ~2.5 µs
# for _spread twice; every new point of a batch insert computes one). ~2.6 MB.
_BYTE = [_spread(i) for i in range(256)]
_SPREAD16 = [_BYTE[i & 0xFF] | (_BYTE[i >> 8] << 16) for i in range(1 << 16)]


def _x(lon: float) -> int:
    x = int((lon + 180.0) * _X_SCALE)
    return 0 if x < 0 else _TOP if x > _TOP else x


def _y(lat: float) -> int:
    y = int((lat + 90.0) * _Y_SCALE)
    return 0 if y < 0 else _TOP if y > _TOP else y


def point_cell(lon: float, lat: float) -> int:
    """Return the cell of a point [deg]; values outside ±180/±90 take the edge's cells."""
    x = int((lon + 180.0) * _X_SCALE)
    y = int((lat + 90.0) * _Y_SCALE)
    if not 0 <= x <= _TOP:
        x = 0 if x < 0 else _TOP
    if not 0 <= y <= _TOP:
        y = 0 if y < 0 else _TOP
    table = _SPREAD16
    return (
        table[x & 0xFFFF]
        | (table[x >> 16] << 32)
        | (table[y & 0xFFFF] << 1)
        | (table[y >> 16] << 33)
    )


def window_ranges(
    min_lon: float, min_lat: float, max_lon: float, max_lat: float, *, depth: int = DEPTH
) -> list[tuple[int, int]]:
    """Return sorted, disjoint, inclusive cell ranges that hold every point of the window.

    The quadtree squares that meet the window are visited from the level whose squares are
    at least the window's size (at most 2 x 2 of them) down ``depth`` levels; a square inside
    the window, or one at the last level, gives its whole range; touching ranges are merged.
    The ranges also hold points outside the window (in the last level's squares on its
    edge): the caller tests the exact bounds.
    """
    x0, x1, y0, y1 = _x(min_lon), _x(max_lon), _y(min_lat), _y(max_lat)
    if x1 < x0 or y1 < y0:
        return []
    extent = max(x1 - x0, y1 - y0) + 1
    top = max(0, BITS - (extent - 1).bit_length())
    bottom = min(BITS, top + depth)
    found: list[tuple[int, int]] = []

    def visit(level: int, cx: int, cy: int) -> None:
        shift = BITS - level
        lx, ly = cx << shift, cy << shift
        hx, hy = lx + (1 << shift) - 1, ly + (1 << shift) - 1
        if hx < x0 or lx > x1 or hy < y0 or ly > y1:
            return
        if level == bottom or (lx >= x0 and hx <= x1 and ly >= y0 and hy <= y1):
            lo = (_spread(cx) | (_spread(cy) << 1)) << (2 * shift)
            found.append((lo, lo + (1 << (2 * shift)) - 1))
            return
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            visit(level + 1, 2 * cx + dx, 2 * cy + dy)

    shift = BITS - top
    for cx in range(x0 >> shift, (x1 >> shift) + 1):
        for cy in range(y0 >> shift, (y1 >> shift) + 1):
            visit(top, cx, cy)
    found.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in found:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged
