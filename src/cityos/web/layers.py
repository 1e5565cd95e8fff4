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
    # Drawing hints the page knows (docs/web.md, "How to add a layer"):
    # {"color_by": "pm25-grade" | "speed-ratio" | "parking-free" | "spot-status"} colours each
    # feature by its value (with a legend); {"draw_as": "road-link", "ref": "refRoadSegment"}
    # draws a point entity as the road link it names (the twin bundle's link geometry).
    extra: dict[str, Any] = field(default_factory=dict)
    # Only the entities whose attribute ``attr`` is (``negate``: is not) one of ``values``:
    # several layers may share one entity type (buses, BRT, shuttles are all ``Vehicle``).
    match: dict[str, Any] | None = None

    def matches(self, properties: dict[str, Any]) -> bool:
        """Return True when a keyValues entity belongs to this layer (its ``match`` rule)."""
        if self.match is None:
            return True
        value = properties.get(self.match["attr"])
        found = value in self.match["values"]
        return not found if self.match.get("negate") else found

    def as_json(self) -> dict[str, Any]:
        """Return the layer as the JSON object ``GET /web/layers`` lists."""
        return asdict(self)


_REGISTRY: dict[str, Layer] = {}
SDM = "https://raw.githubusercontent.com/smart-data-models/dataModel.{}/master/context.jsonld"
ENVIRONMENT = SDM.format("Environment")
TRANSPORTATION = SDM.format("Transportation")
PARKING = SDM.format("Parking")
GREEN_ENERGY = SDM.format("GreenEnergy")
ISSUE_TRACKING = SDM.format("IssueTracking")
CITYOS = "https://w3id.org/cityos/cityos-context.jsonld"  # CityOS's own terms (hvec, …)
# Smart Data Models ``Vehicle.vehicleType`` values (its enum) that make a vehicle a bus or a
# BRT vehicle; every other value (``minibus``, ``van``, ``car``: the demand-responsive
# shuttles) or none at all is drawn in the shuttle layer.
BUS_TYPES = ("bus",)
BRT_TYPES = ("BRT bus", "BRT mini bus")


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
            id="parks",
            name_ko="공원 (근사)",
            name_en="Parks (approximate)",
            source="basemap",
            query={"name": "parks"},
            style=Style("#5b9a4f", "#3f7a4f", weight=0.8, fill_opacity=0.45),
            order=5,
        )
    )
    register(
        Layer(
            id="water",
            name_ko="하천·호수 (근사)",
            name_en="Rivers and lakes (approximate)",
            source="basemap",
            query={"name": "water"},
            style=Style("#4a8fc4", "#3b6fa0", weight=0.8, fill_opacity=0.55),
            order=6,
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
    _mobility()
    _services()


def _mobility() -> None:
    """Traffic counters, car parks and parking spots, buses, BRT and shuttles (issue 6)."""
    register(
        Layer(
            id="traffic",
            name_ko="교통 흐름 (속도)",
            name_en="Traffic flow (speed)",
            source="entities",
            query={"type": "TrafficFlowObserved", "context": TRANSPORTATION},
            style=Style("#15803d", "#4ade80", weight=5.0, fill_opacity=0.9, radius=5.0),
            group="live",
            order=55,
            kpi="congestion",
            extra={"color_by": "speed-ratio", "draw_as": "road-link", "ref": "refRoadSegment"},
        )
    )
    register(
        Layer(
            id="parking",
            name_ko="주차장 (빈자리)",
            name_en="Car parks (free spaces)",
            source="entities",
            query={"type": "OffStreetParking", "context": PARKING},
            style=Style("#1d4ed8", "#93c5fd", weight=1.5, fill_opacity=0.85, radius=7.0),
            group="live",
            order=62,
            extra={"color_by": "parking-free"},
        )
    )
    register(
        Layer(
            id="parking-spots",
            name_ko="주차면",
            name_en="Parking spaces",
            source="entities",
            query={"type": "ParkingSpot", "context": PARKING},
            style=Style("#1d4ed8", "#93c5fd", weight=1.0, fill_opacity=0.9, radius=3.0),
            group="live",
            order=63,
            extra={"color_by": "spot-status"},
        )
    )
    register(
        Layer(
            id="buses",
            name_ko="버스 위치",
            name_en="Bus positions",
            source="entities",
            query={"type": "Vehicle", "context": TRANSPORTATION},
            style=Style("#be185d", "#f9a8d4", weight=1.0, fill_opacity=0.9, radius=4.0),
            group="live",
            order=70,
            kpi="vehicles",
            match={"attr": "vehicleType", "values": list(BUS_TYPES)},
        )
    )
    register(
        Layer(
            id="brt-vehicles",
            name_ko="BRT 차량 위치",
            name_en="BRT vehicle positions",
            source="entities",
            query={"type": "Vehicle", "context": TRANSPORTATION},
            style=Style("#9a3412", "#fdba74", weight=1.0, fill_opacity=0.95, radius=5.0),
            group="live",
            order=71,
            kpi="vehicles",
            match={"attr": "vehicleType", "values": list(BRT_TYPES)},
        )
    )
    register(
        Layer(
            id="vehicles",
            name_ko="셔틀·기타 차량 위치",
            name_en="Shuttle and other vehicle positions",
            source="entities",
            query={"type": "Vehicle", "context": TRANSPORTATION},
            style=Style("#0e7490", "#67e8f9", weight=1.0, fill_opacity=0.9, radius=4.0),
            group="live",
            order=72,
            kpi="vehicles",
            match={"attr": "vehicleType", "values": [*BUS_TYPES, *BRT_TYPES], "negate": True},
        )
    )


def _services() -> None:
    """Layers of domains other issues bring: absent until their first entity exists."""
    register(
        Layer(
            id="emergency",
            name_ko="응급실",
            name_en="Emergency departments",
            source="entities",
            query={"type": "EmergencyDepartment", "context": CITYOS},
            style=Style("#be123c", "#fda4af", weight=1.5, fill_opacity=0.9, radius=6.0),
            group="live",
            order=80,
            kpi="er-load",
        )
    )
    register(
        Layer(
            id="solar",
            name_ko="태양광 발전",
            name_en="Solar generation",
            source="entities",
            query={"type": "PhotovoltaicMeasurement", "context": GREEN_ENERGY},
            style=Style("#a16207", "#fde047", weight=1.0, fill_opacity=0.9, radius=5.0),
            group="live",
            order=85,
            kpi="energy",
        )
    )
    register(
        Layer(
            id="complaints",
            name_ko="민원",
            name_en="Complaints",
            source="entities",
            query={"type": "service_requests", "context": ISSUE_TRACKING},
            style=Style("#0f766e", "#5eead4", weight=1.0, fill_opacity=0.9, radius=4.0),
            group="live",
            order=90,
            kpi="complaints",
        )
    )
    register(
        Layer(
            id="energy-meters",
            name_ko="전력 계량기",
            name_en="Energy meters",
            source="entities",
            query={"type": "EnergyMeter", "context": ""},
            style=Style("#4338ca", "#a5b4fc", weight=1.0, fill_opacity=0.9, radius=4.0),
            group="live",
            visible=False,
            order=86,
            kpi="energy",
        )
    )


_builtin()
