"""The dashboard's KPI tile registry: a tile is a declaration, like a map layer.

A :class:`Tile` names the map layers whose features it summarises and the ``kind`` of summary
(a function of that name in ``static/js/kpi.js``: ``TILE_KINDS``). The dashboard reads the
registry from ``GET /web/tiles`` and shows a tile only while its summary has something to
show, so the tiles of domains that have no data yet (ER load, energy balance, complaints) are
absent and appear with their first entity. A domain adds a tile with :func:`register`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["pm25-grade", "congestion", "count", "er-load", "energy-balance", "open-complaints"]


@dataclass(frozen=True)
class Tile:
    """One KPI tile: identity, Korean and English titles, the layers it reads, its summary."""

    id: str
    name_ko: str
    name_en: str
    kind: Kind
    layers: tuple[str, ...]
    order: int = 100

    def as_json(self) -> dict[str, Any]:
        """Return the tile as the JSON object ``GET /web/tiles`` lists."""
        out = asdict(self)
        out["layers"] = list(self.layers)
        return out


_REGISTRY: dict[str, Tile] = {}


def register(tile: Tile) -> None:
    """Add a tile (or replace the one with its id)."""
    _REGISTRY[tile.id] = tile


def tiles() -> list[Tile]:
    """Return every registered tile in display order."""
    return sorted(_REGISTRY.values(), key=lambda tile: (tile.order, tile.id))


def _builtin() -> None:
    for tile in (
        Tile(
            "air-quality",
            "대기질 (PM2.5)",
            "Air quality (PM2.5)",
            "pm25-grade",
            ("air-quality",),
            10,
        ),
        Tile(
            "congestion",
            "교통 혼잡 (정체 구간)",
            "Congestion (jammed links)",
            "congestion",
            ("traffic",),
            20,
        ),
        Tile(
            "vehicles",
            "운행 중인 버스·셔틀",
            "Buses and shuttles in service",
            "count",
            ("buses", "brt-vehicles", "vehicles"),
            30,
        ),
        Tile("er-load", "응급실 부하", "ER load", "er-load", ("emergency",), 40),
        Tile(
            "energy",
            "에너지 수지 (발전−소비)",
            "Energy balance (generation − use)",
            "energy-balance",
            ("solar", "energy-meters"),
            50,
        ),
        Tile(
            "complaints", "미처리 민원", "Open complaints", "open-complaints", ("complaints",), 60
        ),
        Tile("districts", "읍·면·동", "Eup/myeon/dong", "count", ("districts",), 90),
        Tile("facilities", "시설", "Facilities", "count", ("facilities",), 95),
    ):
        register(tile)


_builtin()
