"""Individual parking spaces for live mode: a few car parks and kerbside rows at BRT stations.

The twin simulates parked cars per zone, not per space. For the dashboard and for clients of
the Smart Data Models ``ParkingSpot`` entity, live mode lays out a small, documented set of
**synthetic** spaces next to five stations of the BRT inner ring (``PLACES``) and lets
their occupancy follow the simulated occupancy of the zone the station lies in:

- off-street: a surface car park of ``OFF_STREET_SPACES`` perpendicular spaces in two facing
  rows, 2.5 m x 5.0 m each, centred ``OFFSET_M`` east of the station;
- on-street: a kerbside row of ``ON_STREET_SPACES`` parallel spaces, 2.0 m x 6.0 m each,
  starting ``OFFSET_M`` north of the station, along the north-south axis.

Space sizes are the Korean standard sizes (주차장법 시행규칙 제3조 주차구획: 일반형
2.5 m x 5.0 m; 평행주차형식 일반형 2.0 m x 6.0 m). Where and how many spaces there are is
synthetic (the real station car parks are not in the bundle).

Occupancy: at minute m the zone's share of occupied spaces s(m) = occupied / total (the car
park sensor of ``_live_sensors``) gives k = round(s(m) x n) occupied spaces of a place with
n spaces; which ones is fixed per space by a seeded preference rank (spaces near the entrance
fill first), so a space's status changes only when the count passes its rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin.city import City

FloatArray = NDArray[np.float64]

OFF_STREET_SPACES = 20  # per car park [spaces]
ON_STREET_SPACES = 8  # per kerbside row [spaces]
OFFSET_M = 60.0  # from the station node [m]
M_PER_DEG_LAT = 111_320.0  # [m/deg]
# (station node, kind): off-street car parks at three stations, kerbside rows at two
PLACES: tuple[tuple[str, str], ...] = (
    ("R01", "offStreet"),
    ("R10", "offStreet"),
    ("R13", "offStreet"),
    ("R05", "onStreet"),
    ("R07", "onStreet"),
)
SIZE_M = {"offStreet": (2.5, 5.0), "onStreet": (2.0, 6.0)}  # (width, length) [m]


@dataclass(frozen=True)
class Place:
    """One synthetic parking place and its spaces."""

    key: str  # station node id
    kind: str  # "offStreet" | "onStreet"
    zone: int  # zone index the station lies in
    name_ko: str
    name_en: str
    lon: float  # the place's centre [deg]
    lat: float  # [deg]
    spot_lon: FloatArray  # (spaces,) [deg]
    spot_lat: FloatArray  # (spaces,) [deg]
    rank: NDArray[np.int64]  # (spaces,) fill order, 0 first

    @property
    def entity_type(self) -> str:
        """Return the SDM type of the place: OffStreetParking or OnStreetParking."""
        return "OffStreetParking" if self.kind == "offStreet" else "OnStreetParking"

    @property
    def device_id(self) -> str:
        """Return the place's device id."""
        return f"twin-{'lot' if self.kind == 'offStreet' else 'kerb'}-{self.key}"

    @property
    def entity_id(self) -> str:
        """Return the place's entity id."""
        return f"urn:ngsi-ld:{self.entity_type}:{self.device_id}"

    def spot_device_id(self, i: int) -> str:
        """Return the device id of space ``i``."""
        return f"twin-spot-{self.key}-{i + 1:02d}"

    @property
    def size(self) -> int:
        """Return the number of spaces."""
        return len(self.spot_lon)


def _shift(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    dlat = north_m / M_PER_DEG_LAT
    dlon = east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def places(city: City, seed: int = 42) -> list[Place]:
    """Return the synthetic places of ``PLACES`` that exist in ``city`` (by station node)."""
    net, zones = city.network, city.zones
    code_index = {c: i for i, c in enumerate(zones.code)}
    rng = np.random.default_rng([seed, 11])
    out = []
    for key, kind in PLACES:
        if key not in net.node_index:
            continue
        node = net.node_index[key]
        zone = code_index.get(net.node_zone[node])
        if zone is None:
            continue
        lon0, lat0 = float(net.node_lon[node]), float(net.node_lat[node])
        width, length = SIZE_M[kind]
        if kind == "offStreet":
            n = OFF_STREET_SPACES
            half = n // 2
            xs = [OFFSET_M + (i % half - (half - 1) / 2) * width for i in range(n)]
            ys = [(length / 2 + 3.0) * (1 if i < half else -1) for i in range(n)]  # 6 m aisle
            centre = _shift(lon0, lat0, OFFSET_M, 0.0)
        else:
            n = ON_STREET_SPACES
            xs = [8.0] * n  # kerb 8 m east of the station's axis
            ys = [OFFSET_M + (i + 0.5) * length for i in range(n)]
            centre = _shift(lon0, lat0, 8.0, OFFSET_M + n * length / 2)
        pts = [_shift(lon0, lat0, x, y) for x, y in zip(xs, ys, strict=True)]
        name_ko, name_en = net.node_name_ko[node], net.node_name_en[node]
        label_ko = "BRT 정류장 공영주차장" if kind == "offStreet" else "BRT 정류장 노상주차"
        label_en = "BRT station car park" if kind == "offStreet" else "BRT station kerbside"
        out.append(
            Place(
                key=key,
                kind=kind,
                zone=zone,
                name_ko=f"{name_ko} {label_ko}",
                name_en=f"{name_en} {label_en}",
                lon=centre[0],
                lat=centre[1],
                spot_lon=np.array([p[0] for p in pts]),
                spot_lat=np.array([p[1] for p in pts]),
                rank=np.argsort(rng.permutation(n)).astype(np.int64),
            )
        )
    return out


def occupied_spaces(place: Place, share: float) -> NDArray[np.bool_]:
    """Return which spaces of ``place`` are occupied when the zone's occupancy is ``share``."""
    k = int(round(min(max(share, 0.0), 1.0) * place.size))
    return np.asarray(place.rank < k)
