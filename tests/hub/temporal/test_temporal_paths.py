"""Temporal ``q`` with sub-attribute paths, ``[..]`` trails and date/time literals.

Each term is checked per instance in the time window (GS CIM 009 5.7.4.4), in SQL on both
backends (the ``client`` fixture). ``FLEET``: instances inside the window (``IN``) and
outside (``OUT``, both in _window.py); an instance outside never satisfies a term.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.temporal._window import IN, OUT, ids, prop, query

V = "urn:ngsi-ld:Vehicle:tp-"
FLEET: list[dict[str, Any]] = [
    {
        "id": V + "kmh",
        "type": "Vehicle",
        "speed": [prop(30, IN, unitCode="KMH", accuracy=prop(0.5, IN)), prop(9, OUT)],
        "address": [prop({"city": "Sejong", "zip": 30100}, IN)],
        "departure": [prop("2026-03-01T06:00:00Z", IN)],
        "day": [prop("2026-02-28", IN)],
        "opens": [prop("08:30:00", IN)],
        "label": [{"type": "LanguageProperty", "languageMap": {"en": "red"}, "observedAt": IN}],
    },
    {
        "id": V + "mph",
        "type": "Vehicle",
        "speed": [prop(40, IN, unitCode="MPH", accuracy=prop(3, IN))],
        "address": [prop({"city": "Daejeon", "zip": 34000}, IN), prop({"city": "Sejong"}, OUT)],
        # +09:00: 2026-03-01T00:00:00Z, earlier than kmh's departure
        "departure": [prop("2026-03-01T09:00:00+09:00", IN)],
        "day": [prop("2026-03-02", IN)],
        "opens": [prop("10:00", IN)],
        "label": [{"type": "LanguageProperty", "languageMap": {"fr": "red"}, "observedAt": IN}],
    },
    {
        "id": V + "odd",
        "type": "Vehicle",
        "speed": [prop(50, IN)],
        # not a date: compared as a string (4.9)
        "departure": [prop("2026-02-30T00:00:00Z", IN)],
        "address": [prop("Sejong", IN)],
    },
    {
        "id": V + "late",
        "type": "Vehicle",
        "departure": [prop("2026-01-01T00:00:00Z", IN), prop("2027-01-01T00:00:00Z", OUT)],
    },
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # keywords and sub-attributes of the instance
        ('speed.unitCode=="KMH"', ["kmh"]),
        ('speed.unitCode!="KMH"', ["mph"]),
        ("speed.unitCode", ["kmh", "mph"]),
        ("!speed.unitCode;speed", ["odd"]),
        ("speed.accuracy<1", ["kmh"]),
        ("speed.accuracy>=0.5", ["kmh", "mph"]),
        ("speed.observedAt>=2026-03-01T00:00:00Z", ["kmh", "mph", "odd"]),
        ("speed.observedAt<2026-02-01T00:00:00Z", []),  # OUT instances never count
        # [..] into compound values and language maps
        ('address[city]=="Sejong"', ["kmh"]),  # mph's Sejong is outside the window
        ("address[zip]>31000", ["mph"]),
        ("address[zip]==30100..30200", ["kmh"]),
        ("address[city]", ["kmh", "mph"]),
        ('label[en]=="red"', ["kmh"]),
        ('label[*]=="red"', ["kmh", "mph"]),
        ('label[fr]~="^r"', ["mph"]),
        # date/time literals compare as instants when the value is one of that kind
        ("departure>2026-03-01T03:00:00Z", ["kmh"]),
        ("departure<2026-03-01T03:00:00Z", ["late", "mph", "odd"]),  # odd: as strings
        ("departure==2026-03-01T00:00:00Z", ["mph"]),  # +09:00 is the same instant
        ('departure>"2026-02-15T00:00:00Z"', ["kmh", "mph", "odd"]),
        ("departure==2026-02-28T00:00:00Z..2026-03-01T01:00:00Z", ["mph", "odd"]),
        ("day<2026-03-01", ["kmh"]),
        ("day==2026-02-28,2026-03-02", ["kmh", "mph"]),
        ("opens<09:00", ["kmh"]),
        ("opens>=09:00:00Z", ["mph"]),
    ],
)
def test_paths_and_dates_are_checked_per_instance(
    fleet: TestClient, q: str, expected: list[str]
) -> None:
    assert ids(query(fleet, q)) == expected


def test_a_malformed_date_value_compares_as_a_string(fleet: TestClient) -> None:
    # "2026-02-30T00:00:00Z" is no instant; as a string it sorts after "2026-02-15…"
    assert "odd" in ids(query(fleet, "departure>2026-02-15T00:00:00Z"))
    assert "odd" not in ids(query(fleet, "departure>2026-03-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("q", "fragment"),
    [
        ("speed.createdAt>2026-01-01T00:00:00Z", "createdAt"),
        ("speed.modifiedAt>2026-01-01T00:00:00Z", "modifiedAt"),
        ('speed.instanceId=="x"', "instanceId"),
    ],
)
def test_keywords_not_kept_with_an_instance_are_400(
    fleet: TestClient, q: str, fragment: str
) -> None:
    r = query(fleet, q)
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("BadRequestData")
    assert fragment in r.json()["detail"]
    assert any("가" <= c <= "힣" for c in r.json()["detail"])


Q_ALPHABET = st.sampled_from(
    list('speedaccuracyunitCodeobservedAtaddress[city]label*.=!<>~;|(),"0123456789-:TZ+ ')
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.one_of(
        st.text(Q_ALPHABET, max_size=40),
        st.builds(
            lambda path, op, lit: f"{path}{op}{lit}",
            st.sampled_from(
                ["speed", "speed.unitCode", "speed.accuracy", "address[city]", "label[en]"]
            ),
            st.sampled_from(["==", "!=", ">", "<=", "~="]),
            st.one_of(
                st.sampled_from(['"x"', "2026-03-01T00:00:00Z", "10:00", "2026-03-01", "1..2"]),
                st.integers(-5, 100).map(str),
            ),
        ),
    )
)
def test_any_q_gives_200_or_400(fleet: TestClient, text: str) -> None:
    r = query(fleet, text)
    assert r.status_code in (200, 400), (text, r.status_code, r.text)
