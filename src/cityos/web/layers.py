"""The map's layer registry: a layer is a data declaration, not code.

Each :class:`Layer` says where its features come from (``source``), what it is called in
Korean and English, and how it is drawn in the light and dark themes. The dashboard reads the
registry from ``GET /web/layers`` and draws every layer the same way, so a domain adds its
layer by calling :func:`register` at import time (see docs/web.md).

Two kinds of source exist:

- ``basemap``: reference geometry from the package's own data (``/web/basemap/{name}``:
  roads, the BRT ring, facilities). Always present.
- ``entities``: NGSI-LD entities of one type read from the hub (``GET /ngsi-ld/v1/entities``,
  as GeoJSON, with ``context`` sent as the JSON-LD ``Link`` so attribute names compact).
  The page lists such a layer only while the hub holds entities of the type, so a layer of a
  domain that is not built yet is simply absent, and appears with its first entity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SourceKind = Literal["basemap", "entities"]


@dataclass(frozen=True)
class Style:
    """How a layer is drawn: colours per theme (CSS colours), line width [px], radius [px]."""

    color_light: str
    color_dark: str
    weight: float = 2.0
    fill_opacity: float = 0.0
    radius: float = 0.0  # > 0 draws points as circles of this radius
    dash: str | None = None


@dataclass(frozen=True)
class Layer:
    """One map layer: identity, names, source query, style and its place in the list."""

    id: str
    name_ko: str
    name_en: str
    source: SourceKind
    query: dict[str, str]  # basemap: {"name"}; entities: {"type", "context"}
    style: Style
    group: Literal["base", "live"] = "base"
    visible: bool = True
    order: int = 100
    kpi: str | None = None  # which KPI tile this layer feeds, if any
    # Drawing hints the page knows: {"color_by": "pm25-grade"} colours each feature by grade.
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the layer as the JSON object ``GET /web/layers`` lists."""
        return asdict(self)


_REGISTRY: dict[str, Layer] = {}
SDM = "https://raw.githubusercontent.com/smart-data-models/dataModel.{}/master/context.jsonld"
ENVIRONMENT = SDM.format("Environment")
TRANSPORTATION = SDM.format("Transportation")


def register(layer: Layer) -> None:
    """Add a layer (or replace the one with its id)."""
    _REGISTRY[layer.id] = layer


def layers() -> list[Layer]:
    """Return every registered layer in drawing order (lowest ``order`` first)."""
    return sorted(_REGISTRY.values(), key=lambda layer: (layer.order, layer.id))


def _builtin() -> None:
    """The layers of the domains CityOS has today."""
    register(
        Layer(
            id="districts",
            name_ko="읍·면·동 경계",
            name_en="Eup/myeon/dong boundaries",
            source="entities",
            query={"type": "AdministrativeArea", "context": ENVIRONMENT},
            style=Style("#4b5f8a", "#8fa6d6", weight=1.2, fill_opacity=0.06),
            order=10,
        )
    )
    register(
        Layer(
            id="roads",
            name_ko="도로",
            name_en="Roads",
            source="basemap",
            query={"name": "roads"},
            style=Style("#8a8f98", "#6b7280", weight=1.5),
            order=20,
        )
    )
    register(
        Layer(
            id="brt",
            name_ko="BRT 순환선",
            name_en="BRT ring",
            source="basemap",
            query={"name": "brt"},
            style=Style("#c2410c", "#fb923c", weight=4.0),
            order=30,
        )
    )
    register(
        Layer(
            id="facilities",
            name_ko="시설",
            name_en="Facilities",
            source="basemap",
            query={"name": "facilities"},
            style=Style("#047857", "#34d399", weight=1.0, fill_opacity=0.8, radius=3.0),
            visible=False,
            order=40,
        )
    )
    register(
        Layer(
            id="landmarks",
            name_ko="주요 장소",
            name_en="Landmarks",
            source="entities",
            query={"type": "PointOfInterest", "context": ENVIRONMENT},
            style=Style("#7c3aed", "#c4b5fd", weight=2.0, fill_opacity=0.9, radius=6.0),
            order=50,
        )
    )
    register(
        Layer(
            id="air-quality",
            name_ko="대기질 (PM2.5)",
            name_en="Air quality (PM2.5)",
            source="entities",
            query={"type": "AirQualityObserved", "context": ENVIRONMENT},
            style=Style("#0369a1", "#7dd3fc", weight=2.0, fill_opacity=0.9, radius=7.0),
            group="live",
            order=60,
            kpi="air-quality",
            extra={"color_by": "pm25-grade"},  # each station in its Korean PM2.5 grade colour
        )
    )
    register(
        Layer(
            id="vehicles",
            name_ko="버스·셔틀 위치",
            name_en="Bus and shuttle positions",
            source="entities",
            query={"type": "Vehicle", "context": TRANSPORTATION},
            style=Style("#b91c1c", "#fca5a5", weight=1.0, fill_opacity=0.9, radius=4.0),
            group="live",
            order=70,
            kpi="vehicles",
        )
    )


_builtin()
