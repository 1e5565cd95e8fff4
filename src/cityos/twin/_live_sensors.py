"""The twin's simulated sensors: one simulated day turned into device descriptions and readings.

Pure functions (no database, no clock): ``simulate_day`` runs population -> demand -> traffic
at a population ``scale`` and keeps what the sensors see; ``devices`` describes the sensors
as ingestion devices (Smart Data Models); ``readings`` returns, for one simulated minute, the
JSON measures each device sends. Buses and BRT follow the timetable of ``city.transit``.

Counts of a sampled population are scaled back to the whole city (divided by ``scale``), so
a counter shows city-level vehicles per minute whatever the sample size.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cityos.ingest.schemas import DeviceCreate
from cityos.twin import _live_parking
from cityos.twin._drt_trajectories import STATE_NAMES, Trajectories, trajectories
from cityos.twin.behaviour import load_behaviour
from cityos.twin.city import City, TransitLine
from cityos.twin.demand import CAR, DemandSkims, build_trips, demand_skims
from cityos.twin.drt import DrtParams, drt_requests, simulate_drt
from cityos.twin.parking import parked_cars, parking_supply
from cityos.twin.population import PopulationParams, build_population
from cityos.twin.run import congested_skims
from cityos.twin.scenario import load_scenario
from cityos.twin.traffic import Assignment, TrafficParams, assign

SYNTHETIC = "CityOS digital twin (synthetic)"  # dataProvider of every twin entity
SOURCE = "urn:cityos:twin:sejong"  # source of every twin entity
DAY_MIN = 1440
PERIOD_MIN = 15  # observation period of a traffic counter [min]
# Assumed timetable day (as the twin's bus-km): service 05:30-23:30, peaks 07-09 and 17-19.
SERVICE_START_MIN, SERVICE_END_MIN = 330, 1410
PEAKS_MIN = ((420, 540), (1020, 1140))
SHUTTLES_SHOWN = 50  # shuttles (DRT) that report positions, the first of the fleet
# What every moving vehicle (bus, BRT, shuttle) measures: message key -> Vehicle attribute.
VEHICLE_MEASURES: dict[str, dict[str, str]] = {
    "loc": {"name": "location", "type": "Point"},
    "speed": {"name": "speed", "type": "Number", "unitCode": "KMH"},
    "heading": {"name": "heading", "type": "Number", "unitCode": "DD"},
    "status": {"name": "serviceStatus", "type": "Text"},
}

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Day:
    """What the sensors of one simulated day see, per minute (all city-level)."""

    scale: float  # population sample share [-]
    links: IntArray  # counted link indices
    # Counters report over the PERIOD_MIN minutes ending at each minute (rolling):
    intensity: FloatArray  # (1440, links) vehicles that passed the link [veh/period]
    speed_kmh: FloatArray  # (1440, links) their mean speed, free-flow if none [km/h]
    occupancy: FloatArray  # (1440, links) mean share of the link's storage in use [0, 1]
    zones: IntArray  # zone indices with a car park sensor
    occupied: IntArray  # (1440, zones) cars parked [veh]
    total: IntArray  # (zones,) off-street spaces [spaces]
    # Shuttles (DRT) shown: per minute and vehicle (fleet index in ``shuttles``)
    shuttles: IntArray  # (vehicles,) fleet indices
    shuttle_capacity: int  # seats [passengers]
    shuttle_lon: FloatArray  # (1440, vehicles) [deg]
    shuttle_lat: FloatArray  # (1440, vehicles) [deg]
    shuttle_speed: FloatArray  # (1440, vehicles) [km/h]
    shuttle_heading: FloatArray  # (1440, vehicles) [deg], -1 standing
    shuttle_state: NDArray[np.int8]  # (1440, vehicles) _drt_trajectories states
    shuttle_load: NDArray[np.int8]  # (1440, vehicles) passengers on board
    shuttle_served: NDArray[np.int16]  # (1440, vehicles) passengers dropped off today
    runtime_s: float  # [s]


def _window(a: FloatArray) -> FloatArray:
    """Return the sum over the PERIOD_MIN minutes ending at each minute (rows) of ``a``."""
    c = np.cumsum(np.vstack([np.zeros((1, a.shape[1])), a]), axis=0)
    lag = np.maximum(np.arange(1, len(a) + 1) - PERIOD_MIN, 0)
    return np.asarray(c[1:] - c[lag])


def _minutes(a: NDArray[Any]) -> NDArray[Any]:
    """Return the first 1440 rows of a per-minute array (padded with zeros if shorter)."""
    out = np.zeros((DAY_MIN, *a.shape[1:]), dtype=a.dtype)
    n = min(DAY_MIN, a.shape[0])
    out[:n] = a[:n]
    return out


def simulate_day(
    city: City,
    *,
    scale: float,
    seed: int = 42,
    counters: int = 24,
    iterations: int = 2,
    shuttles: int = SHUTTLES_SHOWN,
) -> Day:
    """Simulate one weekday at population ``scale`` and return what the sensors see.

    The ``counters`` busiest links (by daily flow) that carry a BRT lane or are arterials
    get a traffic counter; every zone with off-street spaces gets a car park sensor; the
    shuttle fleet of the baseline scenario (``fleet_size`` x scale) serves the day's ``drt``
    trips and its first ``shuttles`` vehicles report their positions.
    """
    import time

    started = time.perf_counter()
    pop = build_population(city, PopulationParams(seed=seed, scale=scale))
    beh = load_behaviour()
    skims = demand_skims(city)
    trips = build_trips(city, pop, beh, seed=seed, skims=skims)
    params = TrafficParams(seed=seed, iterations=iterations, capacity_factor=scale)
    a = assign(city, pop, trips, params, beh, skims)
    loading, net = a.loading, city.network
    flow = _minutes(loading.flow.astype(np.float64))
    daily = flow.sum(axis=0)
    main = (net.brt_lanes > 0) | np.isin(
        np.array(net.road_class), ["brt_ring", "urban_arterial", "national_road"]
    )
    candidates = np.flatnonzero(main) if main.any() else np.arange(len(daily))
    links = candidates[np.argsort(-daily[candidates], kind="stable")[:counters]]
    links = np.sort(links)
    counted = flow[:, links]
    speed = _minutes(loading.speed_kmh.astype(np.float64))[:, links]
    moving = _window(counted * speed)
    count = _window(counted)
    speed = np.where(count > 0, moving / np.maximum(count, 1e-9), net.free_flow_kmh[links])
    storage = np.maximum(np.floor(net.length_m * net.lanes / params.jam_spacing_m * scale), 1.0)
    on_link = _minutes(loading.occupancy.astype(np.float64))[:, links] / storage[links]
    occupancy = np.clip(_window(on_link) / PERIOD_MIN, 0.0, 1.0)

    trips = a.trips  # after the mode re-choice of the MSA iterations
    car = (trips.mode == CAR) & (trips.origin != trips.destination)
    loaded = np.flatnonzero(car)
    dep = trips.departure_min[loaded].astype(np.float64)
    arr = np.where(np.isnan(loading.arrival_min), float(DAY_MIN), loading.arrival_min)
    at_home = np.bincount(pop.household_zone, weights=pop.household_cars, minlength=len(city.zones))
    parked = parked_cars(
        trips.origin[loaded].astype(np.int64),
        trips.destination[loaded].astype(np.int64),
        dep,
        arr,
        at_home.astype(np.int64),
    )
    total = parking_supply(city)["total"]
    zones = np.flatnonzero(total > 0)
    # parked_cars can dip below zero in a zone where more cars leave than the household stock
    # put there (a synthetic-population artefact): a car park never holds fewer than 0.
    occupied = np.clip(np.round(parked[:, zones] / scale), 0, total[zones]).astype(np.int64)
    trajectories, capacity = _shuttles(city, a, skims, params, scale, seed, shuttles)
    return Day(
        scale=scale,
        links=links.astype(np.int64),
        intensity=count / scale,
        speed_kmh=speed,
        occupancy=occupancy,
        zones=zones.astype(np.int64),
        occupied=occupied,
        total=total[zones].astype(np.int64),
        shuttles=trajectories.vehicles,
        shuttle_capacity=capacity,
        shuttle_lon=trajectories.lon,
        shuttle_lat=trajectories.lat,
        shuttle_speed=trajectories.speed_kmh,
        shuttle_heading=trajectories.heading,
        shuttle_state=trajectories.state,
        shuttle_load=trajectories.load,
        shuttle_served=trajectories.served,
        runtime_s=time.perf_counter() - started,
    )


def _shuttles(
    city: City,
    a: Assignment,
    skims: DemandSkims,
    params: TrafficParams,
    scale: float,
    seed: int,
    shown: int,
) -> tuple[Trajectories, int]:
    """Run the baseline shuttle fleet on the day's ``drt`` trips; return shown trajectories."""
    s = load_scenario("baseline").shuttles
    fleet = max(1, int(round(s.fleet_size * scale)))
    drt = DrtParams(
        seed=seed,
        fleet_size=fleet,
        capacity=s.capacity,
        max_wait_min=s.max_wait_min,
        max_detour=s.max_detour,
    )
    times = congested_skims(city, a.link_time_min, skims.car, params.bin_min)
    result = simulate_drt(drt_requests(a.trips, drt), times, skims.distance_km, drt)
    z = city.zones
    return trajectories(
        result.legs,
        result.start_zone,
        np.arange(min(shown, fleet), dtype=np.int64),
        zone_lon=z.lon,
        zone_lat=z.lat,
        zone_area_km2=z.area_km2,
        minutes=DAY_MIN,
        seed=seed,
    ), s.capacity


def cached_day(
    city: City, *, scale: float, seed: int = 42, cache_dir: Path | None = None
) -> tuple[Day, bool]:
    """Return the simulated day and whether it came from the cache.

    Days are kept in this process and, when ``cache_dir`` is given, in
    ``<cache_dir>/live-day-<bundle version>-<scale>-<seed>.npz``, so a restart is ready at once.
    A cache file that cannot be read is simulated again and rewritten.
    """
    key = (city.version, scale, seed)
    if key in _DAYS:
        return _DAYS[key], True
    path = None
    if cache_dir is not None:
        path = cache_dir / f"live-day-{city.version}-{scale:g}-{seed}.npz"
        try:
            with np.load(path) as data:
                fields = {f.name: data[f.name] for f in dataclasses.fields(Day)}
            day = Day(
                **{
                    **fields,
                    "scale": float(fields["scale"]),
                    "shuttle_capacity": int(fields["shuttle_capacity"]),
                    "runtime_s": 0.0,
                }
            )
            _DAYS[key] = day
            return day, True
        except (OSError, KeyError, ValueError):
            pass
    day = simulate_day(city, scale=scale, seed=seed)
    _DAYS[key] = day
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **dataclasses.asdict(day))
            tmp.replace(path)
        except OSError:
            pass  # a read-only working directory: simulate again next time
    return day, False


_DAYS: dict[tuple[str, float, int], Day] = {}


# ---- buses on the timetable -------------------------------------------------------------


def _headway(line: TransitLine, minute: float) -> float:
    peak = any(a <= minute < b for a, b in PEAKS_MIN)
    return line.headway_peak_min if peak else line.headway_offpeak_min


def _path(city: City, line: TransitLine) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the line's node longitudes, latitudes and cumulative road distance [deg, km]."""
    net = city.network
    length = {
        (int(a), int(b)): float(x) / 1000.0
        for a, b, x in zip(net.link_from, net.link_to, net.length_m, strict=True)
    }
    nodes = [int(n) for n in line.nodes]
    steps = [length.get((a, b), 0.0) for a, b in zip(nodes[:-1], nodes[1:], strict=True)]
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    return net.node_lon[nodes], net.node_lat[nodes], cum


def _departures(line: TransitLine) -> list[float]:
    out, t = [], float(SERVICE_START_MIN)
    while t < SERVICE_END_MIN:
        out.append(t)
        t += _headway(line, t)
    return out


def _slots(line: TransitLine, trip_min: float) -> int:
    """Return how many vehicles run the line (runs k and k + slots never overlap)."""
    shortest = min(line.headway_peak_min, line.headway_offpeak_min)
    return int(math.ceil(trip_min / shortest)) + 1


def _vehicle_id(line: TransitLine, slot: int) -> str:
    return f"twin-{line.line_id}-{line.direction}-{slot:02d}".replace(" ", "_")[:64]


def _bearing(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Return the initial bearing from the first point to the second [deg, 0 <= b < 360]."""
    p0, p1, dl = math.radians(lat0), math.radians(lat1), math.radians(lon1 - lon0)
    y = math.sin(dl) * math.cos(p1)
    x = math.cos(p0) * math.sin(p1) - math.sin(p0) * math.cos(p1) * math.cos(dl)
    return round(math.degrees(math.atan2(y, x)) % 360.0, 1) % 360.0


def bus_positions(city: City, minute: float) -> list[tuple[str, dict[str, Any]]]:
    """Return (device id, measures) of every bus on its route at ``minute`` after midnight."""
    out = []
    for line in city.transit:
        lon, lat, cum = _path(city, line)
        trip = float(cum[-1]) / line.speed_kmh * 60.0
        if trip <= 0:
            continue
        slots = _slots(line, trip)
        for k, dep in enumerate(_departures(line)):
            if not dep <= minute < dep + trip:
                continue
            km = (minute - dep) / 60.0 * line.speed_kmh
            i = int(np.clip(np.searchsorted(cum, km, side="right") - 1, 0, len(cum) - 2))
            share = (km - cum[i]) / max(cum[i + 1] - cum[i], 1e-9)
            x = float(lon[i] + share * (lon[i + 1] - lon[i]))
            y = float(lat[i] + share * (lat[i + 1] - lat[i]))
            measures = {
                "loc": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                "speed": round(line.speed_kmh, 1),
                "heading": _bearing(lon[i], lat[i], lon[i + 1], lat[i + 1]),
                "status": "onRoute",
            }
            out.append((_vehicle_id(line, k % slots), measures))
    return out


# ---- device descriptions and readings -----------------------------------------------------


def _static(location: dict[str, Any], name: str, **more: Any) -> dict[str, Any]:
    return {"location": location, "name": name, "dataProvider": SYNTHETIC, "source": SOURCE, **more}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}


def _device(**fields: Any) -> DeviceCreate:
    """Return a device description, checked as the ingestion API checks it."""
    return DeviceCreate.model_validate(fields)


def devices(city: City, day: Day | None, tenant: str) -> list[DeviceCreate]:
    """Return the twin's sensors as ingestion devices (buses always; the rest with a day)."""
    out: list[DeviceCreate] = []
    for line in city.transit:
        trip = float(_path(city, line)[2][-1]) / line.speed_kmh * 60.0
        if trip <= 0:
            continue
        for slot in range(_slots(line, trip)):
            device_id = _vehicle_id(line, slot)
            static = {
                "name": f"{line.name_en} #{slot + 1}",
                "dataProvider": SYNTHETIC,
                "source": SOURCE,
                # Smart Data Models Vehicle.vehicleType enum: the map tells BRT from bus by it.
                "vehicleType": "BRT bus" if line.mode == "brt" else "bus",
                "category": ["public"],
                "description": f"{line.name_ko} / {line.name_en} ({line.mode})",
            }  # location is measured
            out.append(
                _device(
                    device_id=device_id,
                    entity_type="Vehicle",
                    entity_id=f"urn:ngsi-ld:Vehicle:{device_id}",
                    attributes={
                        **VEHICLE_MEASURES,
                    },
                    static_attributes=static,
                    transport="http",
                    tenant=tenant,
                )
            )
    if day is None:
        return out
    net = city.network
    for link in day.links:
        geometry = net.geometry[link]
        mid = geometry[len(geometry) // 2]
        device_id = f"twin-tfo-{net.link_id[link]}"[:64]
        out.append(
            _device(
                device_id=device_id,
                entity_type="TrafficFlowObserved",
                entity_id=f"urn:ngsi-ld:TrafficFlowObserved:{device_id}",
                attributes={
                    "q": {"name": "intensity", "type": "Number"},
                    "v": {"name": "averageVehicleSpeed", "type": "Number", "unitCode": "KMH"},
                    "occ": {"name": "occupancy", "type": "Number", "unitCode": "C62"},
                    "t": {"name": "dateObserved", "type": "Text"},
                },
                static_attributes=_static(
                    _point(mid[0], mid[1]),
                    f"Counter on link {net.link_id[link]}",
                    refRoadSegment=f"urn:ngsi-ld:RoadSegment:{net.link_id[link]}",
                    vehicleType="car",
                ),
                transport="http",
                tenant=tenant,
            )
        )
    z = city.zones
    for zone, total in zip(day.zones, day.total, strict=True):
        device_id = f"twin-park-{z.code[zone]}"[:64]
        out.append(
            _device(
                device_id=device_id,
                entity_type="OffStreetParking",
                entity_id=f"urn:ngsi-ld:OffStreetParking:{device_id}",
                attributes={
                    "free": {"name": "availableSpotNumber", "type": "Integer"},
                    "used": {"name": "occupiedSpotNumber", "type": "Integer"},
                    "occ": {"name": "occupancy", "type": "Number", "unitCode": "C62"},
                },
                static_attributes=_static(
                    _point(z.lon[zone], z.lat[zone]),
                    f"{z.name_en[zone]} off-street parking (all spaces of the zone)",
                    alternateName=z.name_ko[zone],
                    totalSpotNumber=int(total),
                    category=["public", "private"],
                ),
                transport="http",
                tenant=tenant,
            )
        )
    out.extend(_shuttle_devices(day, tenant))
    out.extend(_parking_devices(city, day, tenant))
    return out


def _shuttle_id(vehicle: int) -> str:
    return f"twin-drt-{vehicle:04d}"


def _shuttle_devices(day: Day, tenant: str) -> list[DeviceCreate]:
    out = []
    for v in day.shuttles.tolist():
        device_id = _shuttle_id(v)
        static = {
            "name": f"Shared autonomous shuttle #{v + 1}",
            "alternateName": f"공유 자율주행 셔틀 {v + 1}호",
            "dataProvider": SYNTHETIC,
            "source": SOURCE,
            "vehicleType": "minibus",
            "category": ["public", "tracked"],
            "serviceProvided": ["urbanTransit"],
            "fleetVehicleId": str(v),
        }  # location is measured
        out.append(
            _device(
                device_id=device_id,
                entity_type="Vehicle",
                entity_id=f"urn:ngsi-ld:Vehicle:{device_id}",
                attributes={
                    **VEHICLE_MEASURES,
                    "run": {"name": "vehicleRunningStatus", "type": "Text"},
                    "trips": {"name": "currentTripCount", "type": "Integer"},
                    "desc": {"name": "description", "type": "Text"},
                },
                static_attributes=static,
                transport="http",
                tenant=tenant,
            )
        )
    return out


def _parking_devices(city: City, day: Day, tenant: str) -> list[DeviceCreate]:
    out = []
    zones = set(day.zones.tolist())
    for place in _live_parking.places(city):
        if place.zone not in zones:
            continue
        static = _static(
            _point(place.lon, place.lat),
            place.name_en,
            alternateName=place.name_ko,
            totalSpotNumber=place.size,
            occupancyDetectionType=["singleSpaceDetection"],
        )
        attributes: dict[str, Any] = {
            "free": {"name": "availableSpotNumber", "type": "Integer"},
            "used": {"name": "occupiedSpotNumber", "type": "Integer"},
        }
        if place.kind == "offStreet":  # OnStreetParking has no occupancy attribute
            attributes["occ"] = {"name": "occupancy", "type": "Number", "unitCode": "C62"}
            static.update(
                category=["public", "parkingLot", "feeCharged"],
                layout=["surface", "singleLevel"],
                parkingMode=["perpendicularParking"],
            )
        else:
            static.update(category=["public", "feeCharged"], parkingMode="parallelParking")
        out.append(
            _device(
                device_id=place.device_id,
                entity_type=place.entity_type,
                entity_id=place.entity_id,
                attributes=attributes,
                static_attributes=static,
                transport="http",
                tenant=tenant,
            )
        )
        width, length = _live_parking.SIZE_M[place.kind]
        for i in range(place.size):
            device_id = place.spot_device_id(i)
            out.append(
                _device(
                    device_id=device_id,
                    entity_type="ParkingSpot",
                    entity_id=f"urn:ngsi-ld:ParkingSpot:{device_id}",
                    attributes={"status": {"name": "status", "type": "Text"}},
                    static_attributes=_static(
                        _point(place.spot_lon[i], place.spot_lat[i]),
                        f"{place.name_en}, space {i + 1}",
                        alternateName=f"{place.name_ko} {i + 1}번 주차면",
                        category=[place.kind],
                        refParkingSite=place.entity_id,
                        width=width,
                        length=length,
                    ),
                    transport="http",
                    tenant=tenant,
                )
            )
    return out


def shuttle_readings(day: Day, minute: int) -> list[tuple[str, dict[str, Any]]]:
    """Return (device id, measures) of every shown shuttle at ``minute`` of the day."""
    m = int(minute) % DAY_MIN
    out = []
    for j, v in enumerate(day.shuttles.tolist()):
        state = STATE_NAMES[int(day.shuttle_state[m, j])]
        load, speed = int(day.shuttle_load[m, j]), float(day.shuttle_speed[m, j])
        status = {"idle": "parked", "rebalancing": "outOfService"}.get(state, "onRoute")
        out.append(
            (
                _shuttle_id(v),
                {
                    "loc": _point(day.shuttle_lon[m, j], day.shuttle_lat[m, j]),
                    "speed": round(speed, 1),
                    "heading": float(day.shuttle_heading[m, j]),
                    "status": status,
                    "run": "running" if speed > 0 else "stopped",
                    "trips": int(day.shuttle_served[m, j]),
                    "desc": _shuttle_text(state, load, day.shuttle_capacity),
                },
            )
        )
    return out


_STATE_TEXT = {
    "idle": ("대기", "idle"),
    "toPickup": ("승객 태우러 가는 중", "driving to a pick-up"),
    "withPassengers": ("승객 탑승 운행", "with passengers"),
    "rebalancing": ("재배치 이동", "rebalancing"),
}


def _shuttle_text(state: str, load: int, capacity: int) -> str:
    ko, en = _STATE_TEXT[state]
    return f"{ko} · 승객 {load}/{capacity}명 / {en} · {load} of {capacity} seats taken"


def parking_readings(city: City, day: Day, minute: int) -> list[tuple[str, dict[str, Any]]]:
    """Return (device id, measures) of the synthetic places and their spaces at ``minute``."""
    m = int(minute) % DAY_MIN
    column = {int(z): j for j, z in enumerate(day.zones)}
    out: list[tuple[str, dict[str, Any]]] = []
    for place in _live_parking.places(city):
        j = column.get(place.zone)
        if j is None:
            continue
        share = float(day.occupied[m, j]) / max(float(day.total[j]), 1.0)
        taken = _live_parking.occupied_spaces(place, share)
        used = int(taken.sum())
        measures: dict[str, Any] = {"free": place.size - used, "used": used}
        if place.kind == "offStreet":
            measures["occ"] = round(used / place.size, 4)
        out.append((place.device_id, measures))
        out.extend(
            (place.spot_device_id(i), {"status": "occupied" if t else "free"})
            for i, t in enumerate(taken.tolist())
        )
    return out


def readings(
    city: City, day: Day | None, minute: int, observed: str
) -> list[tuple[str, dict[str, Any]]]:
    """Return (device id, JSON measures) of every sensor at ``minute`` of the day.

    ``observed`` is the measurement time (ISO 8601, UTC) sent as ``TimeInstant``.
    """
    m = int(minute) % DAY_MIN
    out = bus_positions(city, m)
    if day is not None:
        net = city.network
        for j, link in enumerate(day.links):
            out.append(
                (
                    f"twin-tfo-{net.link_id[link]}"[:64],
                    {
                        "q": round(float(day.intensity[m, j]), 2),
                        "v": round(float(day.speed_kmh[m, j]), 1),
                        "occ": round(float(day.occupancy[m, j]), 4),
                        "t": observed,
                    },
                )
            )
        for j, zone in enumerate(day.zones):
            used, total = int(day.occupied[m, j]), int(day.total[j])
            out.append(
                (
                    f"twin-park-{city.zones.code[zone]}"[:64],
                    {"free": total - used, "used": used, "occ": round(used / total, 4)},
                )
            )
        out.extend(shuttle_readings(day, m))
        out.extend(parking_readings(city, day, m))
    for _, measures in out:
        measures["TimeInstant"] = observed
    return out
