"""aggregatedValues checked against numpy on the same random history, on both backends.

The history (three sensors, ~1,500 readings each over six hours, 10 % of one attribute's
readings text) is written through POST /temporal/entities; the expected numbers are computed
here with numpy from the generated arrays, never from the broker's own output. Whole-hour
periods are answered from the hourly roll-ups and the others from raw instances; both must
agree with numpy, and with each other, also after instances are modified and deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cityos.hub.temporal.aggregate import uses_rollups
from cityos.hub.temporal.params import Aggregation, TimeWindow

NGSI = "/ngsi-ld/v1"
T0 = datetime(2026, 11, 25, tzinfo=UTC)
HOUR = 3_600_000_000
SENSORS = ("s1", "s2", "s3")
ALL = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
ROLLUP = "totalCount,sum,avg,min,max,stddev,sumsq"


def stamp(micros: int) -> str:
    """Return T0 + micros as a DateTime with microseconds (how the readings are sent)."""
    return (T0 + timedelta(microseconds=int(micros))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(micros: int) -> str:
    """Return T0 + micros as the broker writes period bounds (a fraction only if any)."""
    moment = T0 + timedelta(microseconds=int(micros))
    if int(micros) % 1_000_000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class History:
    """The generated readings of each sensor: times [µs after T0] and values (float or text)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.times: dict[str, np.ndarray] = {}
        self.values: dict[str, list[Any]] = {}
        for sensor in SENSORS:
            n = int(rng.integers(1400, 1600))
            times = np.sort(rng.choice(6 * HOUR, size=n, replace=False))
            numbers = np.round(rng.normal(50.0, 12.0, size=n), 2)
            text = rng.random(n) < 0.1
            self.times[sensor] = times
            self.values[sensor] = [
                f"fault-{int(x) % 4}" if t else float(x) for x, t in zip(numbers, text, strict=True)
            ]

    def body(self, sensor: str) -> dict[str, Any]:
        readings = [
            {"type": "Property", "value": v, "observedAt": stamp(t)}
            for t, v in zip(self.times[sensor], self.values[sensor], strict=True)
        ]
        return {"id": f"urn:ngsi-ld:Sensor:{sensor}", "type": "Sensor", "level": readings}

    def expected(
        self,
        sensor: str,
        start: int | None,
        end: int | None,
        period: int | None,
        method: str,
    ) -> list[list[Any]]:
        """Return [[value, start, end], …] computed with numpy (µs bounds after T0)."""
        times = self.times[sensor]
        values = np.array(self.values[sensor], dtype=object)
        keep = np.ones(len(times), dtype=bool)
        if start is not None:
            keep &= times >= start  # 4.11: after and between include timeAt
        if end is not None:
            keep &= times < end
        times, values = times[keep], values[keep]
        origin = start if start is not None else self.first(end)
        if period is None:
            buckets = np.zeros(len(times), dtype=np.int64)
        else:
            buckets = (times - origin) // period
        out = []
        for bucket in np.unique(buckets):
            chosen = values[buckets == bucket]
            numbers = np.array([v for v in chosen if isinstance(v, float)], dtype=float)
            result: Any
            if method == "totalCount":
                result = len(chosen)
            elif method == "distinctCount":
                result = len({(type(v).__name__, v) for v in chosen})
            elif len(numbers) == 0 or (method == "stddev" and len(numbers) < 2):
                continue
            else:
                result = {
                    "sum": np.sum(numbers),
                    "avg": np.mean(numbers),
                    "min": np.min(numbers),
                    "max": np.max(numbers),
                    "stddev": np.std(numbers, ddof=1),
                    "sumsq": np.sum(numbers**2),
                }[method]
            if period is None:
                lo = start if start is not None else int(times[buckets == bucket].min())
                hi = end if end is not None else int(times[buckets == bucket].max())
            else:
                lo = origin + int(bucket) * period
                hi = lo + period if end is None else min(lo + period, end)
            out.append([result, iso(lo), iso(hi)])
        return out

    def first(self, end: int | None) -> int:
        """Return the earliest reading of all sensors before ``end`` [µs after T0]: where
        the periods of a window without timeAt start (the sensors are queried together)."""
        return min(
            int(times[times < end].min() if end is not None else times.min())
            for times in self.times.values()
        )


@pytest.fixture(scope="module")
def history(client: TestClient) -> History:
    data = History(seed=20261125)
    for sensor in SENSORS:
        r = client.post(f"{NGSI}/temporal/entities", json=data.body(sensor))
        assert r.status_code == 201, r.text
    return data


def _query(
    client: TestClient, methods: str, period: str | None, window: dict[str, str], **extra: str
) -> dict[str, Any]:
    params = {"type": "Sensor", "options": "aggregatedValues", "aggrMethods": methods, **window}
    if period is not None:
        params["aggrPeriodDuration"] = period
    r = client.get(f"{NGSI}/temporal/entities", params={**params, **extra})
    assert r.status_code == 200, r.text
    return {e["id"].rsplit(":", 1)[1]: e for e in r.json()}


def _check(got: list[list[Any]], want: list[list[Any]], method: str) -> None:
    assert [g[1:] for g in got] == [w[1:] for w in want], method
    for (value, *_), (expected, *_) in zip(got, want, strict=True):
        if method in ("totalCount", "distinctCount"):
            assert value == expected, method
        else:
            assert value == pytest.approx(float(expected), rel=1e-9, abs=1e-9), method


WINDOWS = [
    # (window parameters, start, end [µs after T0], period, period [µs], roll-ups?)
    (
        {
            "timerel": "between",
            "timeAt": "2026-11-25T01:00:00Z",
            "endTimeAt": "2026-11-25T05:00:00Z",
        },
        HOUR,
        5 * HOUR,
        "PT1H",
        HOUR,
        True,
    ),
    (
        {
            "timerel": "between",
            "timeAt": "2026-11-25T00:00:00Z",
            "endTimeAt": "2026-11-25T06:00:00Z",
        },
        0,
        6 * HOUR,
        "PT2H",
        2 * HOUR,
        True,
    ),
    (
        {
            "timerel": "between",
            "timeAt": "2026-11-25T00:00:00Z",
            "endTimeAt": "2026-11-25T06:00:00Z",
        },
        0,
        6 * HOUR,
        None,
        None,
        True,
    ),
    # after includes timeAt (4.11), as the roll-up of the hour starting at timeAt does
    ({"timerel": "after", "timeAt": "2026-11-25T02:00:00Z"}, 2 * HOUR, None, "PT1H", HOUR, True),
    # without timeAt the periods start at the first reading, off the hour: raw instances
    ({"timerel": "before", "timeAt": "2026-11-25T03:00:00Z"}, None, 3 * HOUR, "PT1H", HOUR, False),
    (
        {
            "timerel": "between",
            "timeAt": "2026-11-25T00:20:00Z",
            "endTimeAt": "2026-11-25T05:10:00Z",
        },
        20 * 60_000_000,
        310 * 60_000_000,
        "PT1H",
        HOUR,
        False,
    ),
    (
        {
            "timerel": "between",
            "timeAt": "2026-11-25T00:00:00Z",
            "endTimeAt": "2026-11-25T06:00:00Z",
        },
        0,
        6 * HOUR,
        "PT17M",
        17 * 60_000_000,
        False,
    ),
    (
        {"timerel": "after", "timeAt": "2026-11-25T01:30:00.5Z"},
        90 * 60_000_000 + 500_000,
        None,
        None,
        None,
        False,
    ),
    (
        {"timerel": "before", "timeAt": "2026-11-25T04:00:00Z"},
        None,
        4 * HOUR,
        "P1D",
        24 * HOUR,
        False,
    ),
]


@pytest.mark.parametrize(("window", "start", "end", "duration", "period", "rollups"), WINDOWS)
@pytest.mark.parametrize("methods", [ROLLUP, ALL])
def test_aggregations_equal_numpy(
    client: TestClient,
    history: History,
    window: dict[str, str],
    start: int | None,
    end: int | None,
    duration: str | None,
    period: int | None,
    rollups: bool,
    methods: str,
) -> None:
    absolute = int(T0.timestamp() * 1_000_000)
    tw = TimeWindow(
        window["timerel"],
        None if start is None else absolute + start,
        None if end is None else absolute + end,
    )
    origin = absolute + (start if start is not None else history.first(end))
    assert uses_rollups(tw, Aggregation(tuple(methods.split(",")), period), origin) == (
        rollups and methods == ROLLUP
    )
    found = _query(client, methods, duration, window)
    assert sorted(found) == list(SENSORS)
    for sensor in SENSORS:
        level = found[sensor]["level"]
        assert level["type"] == "Property"
        for method in methods.split(","):
            want = history.expected(sensor, start, end, period, method)
            assert want  # every window holds readings: nothing is compared vacuously
            _check(level[method], want, method)


def test_last_n_keeps_the_newest_periods(client: TestClient, history: History) -> None:
    window = WINDOWS[1][0]
    found = _query(client, "avg", "PT1H", window, lastN="2")
    want = history.expected("s2", 0, 6 * HOUR, HOUR, "avg")[-2:]
    _check(found["s2"]["level"]["avg"], want, "avg")


def test_roll_ups_stay_exact_after_patches_and_deletes(
    client: TestClient, history: History
) -> None:
    sensor, url = "s1", f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:s1"
    instances = client.get(url, params={"attrs": "level", "lastN": "1000000"}).json()["level"]
    by_time = {i["observedAt"]: i["instanceId"] for i in instances}  # as sent: stamp()
    times, values = history.times[sensor], history.values[sensor]
    # change three readings (one moved to another hour), make one text a number, delete two
    rng = np.random.default_rng(7)
    picks = [int(p) for p in rng.choice(len(times), size=6, replace=False)]
    for k in picks[:3]:
        values[k] = 1000.0 + k
        r = client.patch(f"{url}/attrs/level/{by_time[stamp(times[k])]}", json={"value": values[k]})
        assert r.status_code == 204, r.text
    moved = picks[3]
    new_time = int(times[moved]) + HOUR + 1
    if new_time < 6 * HOUR:
        r = client.patch(
            f"{url}/attrs/level/{by_time[stamp(times[moved])]}",
            json={"observedAt": stamp(new_time), "value": 7.5},
        )
        assert r.status_code == 204, r.text
        times[moved], values[moved] = new_time, 7.5
    for k in picks[4:]:
        r = client.delete(f"{url}/attrs/level/{by_time[stamp(times[k])]}")
        assert r.status_code == 204, r.text
    keep = [i for i in range(len(times)) if i not in picks[4:]]
    order = sorted(keep, key=lambda i: times[i])
    history.times[sensor] = np.array([times[i] for i in order])
    history.values[sensor] = [values[i] for i in order]
    window = WINDOWS[1][0]
    for methods in (ROLLUP, ALL):  # roll-ups, then raw instances
        found = _query(client, methods, "PT1H", window)
        for method in ROLLUP.split(","):
            want = history.expected(sensor, 0, 6 * HOUR, HOUR, method)
            _check(found[sensor]["level"][method], want, method)


def test_simplified_and_normalized_agree_with_the_data(
    client: TestClient, history: History
) -> None:
    window = {
        "timerel": "between",
        "timeAt": "2026-11-25T02:00:00Z",
        "endTimeAt": "2026-11-25T02:10:00Z",
    }
    r = client.get(
        f"{NGSI}/temporal/entities/urn:ngsi-ld:Sensor:s3",
        params={**window, "options": "temporalValues"},
    )
    got = r.json()["level"]["values"]
    times = history.times["s3"]
    keep = (times >= 2 * HOUR) & (times < 2 * HOUR + 600_000_000)
    want = [[v, stamp(t)] for t, v, k in zip(times, history.values["s3"], keep, strict=True) if k]
    assert got == want


def _vehicle(client: TestClient, name: str, readings: dict[str, list[tuple[str, float]]]) -> str:
    eid = f"urn:ngsi-ld:Vehicle:{name}"
    body: dict[str, Any] = {"id": eid, "type": "Vehicle"}
    for attr, pairs in readings.items():
        body[attr] = [{"type": "Property", "value": v, "observedAt": t} for t, v in pairs]
    r = client.post(f"{NGSI}/temporal/entities", json=body)
    assert r.status_code == 201, r.text
    return eid


def test_periods_without_time_at_start_at_the_first_instance(client: TestClient) -> None:
    """The ETSI suite's 020_11 data: periods from the first instance (12:03), not the hour."""
    eid = _vehicle(
        client,
        "agg-020-11",
        {
            "speed": [("2020-08-01T12:03:00Z", 120), ("2020-08-01T12:05:00Z", 80)],
            "fuelLevel": [
                ("2020-08-01T12:03:00Z", 67),
                ("2020-08-01T13:05:00Z", 53),
                ("2020-08-01T14:07:00Z", 40),
            ],
        },
    )
    params = {"options": "aggregatedValues", "aggrMethods": "avg,max", "aggrPeriodDuration": "PT1H"}
    body = client.get(f"{NGSI}/temporal/entities/{eid}", params=params).json()
    assert body["speed"]["avg"] == [[100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]]
    assert body["fuelLevel"]["max"] == [
        [67.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
        [53.0, "2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z"],
        [40.0, "2020-08-01T14:03:00Z", "2020-08-01T15:03:00Z"],
    ]
    # before: the first instance in the window, the last period cut at timeAt
    before = {**params, "timerel": "before", "timeAt": "2020-08-01T14:00:00Z", "attrs": "fuelLevel"}
    body = client.get(f"{NGSI}/temporal/entities/{eid}", params=before).json()
    assert body["fuelLevel"]["avg"] == [
        [67.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"],
        [53.0, "2020-08-01T13:03:00Z", "2020-08-01T14:00:00Z"],
    ]
    # P1D: one period from the first instance
    day = {**params, "aggrMethods": "min", "aggrPeriodDuration": "P1D", "attrs": "fuelLevel"}
    body = client.get(f"{NGSI}/temporal/entities/{eid}", params=day).json()
    assert body["fuelLevel"]["min"] == [[40.0, "2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]]


def test_a_first_instance_on_the_hour_uses_roll_ups_and_agrees_with_raw(
    client: TestClient,
) -> None:
    """Roll-ups answer a window without timeAt only when its first instance is on an hour;
    then the roll-up and raw paths give the same periods and numbers."""
    eid = _vehicle(
        client,
        "agg-hour",
        {
            "speed": [
                ("2020-08-02T10:00:00Z", 10),
                ("2020-08-02T10:30:00Z", 20),
                ("2020-08-02T11:10:00Z", 40),
                ("2020-08-02T12:59:59Z", 5),
            ]
        },
    )
    origin = int(datetime(2020, 8, 2, 10, tzinfo=UTC).timestamp() * 1_000_000)
    window = TimeWindow()
    assert uses_rollups(window, Aggregation(("avg",), HOUR), origin)
    assert not uses_rollups(window, Aggregation(("avg",), HOUR), origin + 60_000_000)
    assert not uses_rollups(window, Aggregation(("distinctCount",), HOUR), origin)
    url = f"{NGSI}/temporal/entities/{eid}"
    base = {"options": "aggregatedValues", "aggrPeriodDuration": "PT1H"}
    rolled = client.get(url, params={**base, "aggrMethods": ROLLUP}).json()["speed"]
    raw = client.get(url, params={**base, "aggrMethods": ALL}).json()["speed"]
    want = [
        [15.0, "2020-08-02T10:00:00Z", "2020-08-02T11:00:00Z"],
        [40.0, "2020-08-02T11:00:00Z", "2020-08-02T12:00:00Z"],
        [5.0, "2020-08-02T12:00:00Z", "2020-08-02T13:00:00Z"],
    ]
    assert rolled["avg"] == want
    assert raw["avg"] == want
    assert (
        rolled["totalCount"]
        == raw["totalCount"]
        == [[2, *want[0][1:]], [1, *want[1][1:]], [1, *want[2][1:]]]
    )
