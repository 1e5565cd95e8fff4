"""JSON and UltraLight 2.0 payload decoding, and value conversion by mapping type."""

from __future__ import annotations

import pytest

from cityos.ingest.errors import Refused
from cityos.ingest.measurements import convert
from cityos.ingest.payloads import Group, decode, decode_json, decode_ul, parse_timestamp


def test_ul_pairs_in_order() -> None:
    assert decode_ul(b"t|21.3|pm25|17") == [Group(None, (("t", "21.3"), ("pm25", "17")))]


def test_ul_leading_timestamp_is_converted_to_utc() -> None:
    (group,) = decode_ul(b"2026-11-25T09:00:00+09:00|pm25|17")
    assert group.observed_at == "2026-11-25T00:00:00.000000Z"
    assert group.measures == (("pm25", "17"),)


def test_ul_groups_separated_by_hash_each_with_its_own_time() -> None:
    groups = decode_ul(b"2026-11-25T00:00:00Z|t|1#t|2#2026-11-25T00:01:00.5Z|t|3\n")
    assert [g.observed_at for g in groups] == [
        "2026-11-25T00:00:00.000000Z",
        None,
        "2026-11-25T00:01:00.500000Z",
    ]
    assert [g.measures for g in groups] == [(("t", "1"),), (("t", "2"),), (("t", "3"),)]


def test_ul_trims_spaces_around_fields() -> None:
    assert decode_ul(b" t | 21.3 ") == [Group(None, (("t", "21.3"),))]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed_payload"),
        (b"   ", "malformed_payload"),
        (b"t", "malformed_payload"),  # a key without a value
        (b"t||", "bad_timestamp"),  # odd fields: "t" is taken as a timestamp
        (b"t|", "malformed_payload"),  # empty value
        (b"|1", "malformed_payload"),  # empty key
        (b"t|1#", "malformed_payload"),  # an empty group
        (b"yesterday|t|1", "bad_timestamp"),
        (b"2026-11-25T09:00:00|t|1", "bad_timestamp"),  # no time zone
        (b"2026-02-30T09:00:00Z|t|1", "bad_timestamp"),  # no such day
        (b"t w|1", "malformed_payload"),  # a space inside a key
        (b"\xff\xfe|1", "malformed_payload"),  # not UTF-8
    ],
)
def test_ul_refusals_name_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        decode_ul(payload)
    assert caught.value.reason == reason
    assert caught.value.detail
    assert caught.value.detail_ko


def test_json_object_and_timestamp_field() -> None:
    (group,) = decode_json(b'{"pm25": 17, "t": 21.3, "TimeInstant": "2026-11-25T00:00:00Z"}')
    assert group.observed_at == "2026-11-25T00:00:00.000000Z"
    assert group.measures == (("pm25", 17), ("t", 21.3))


def test_json_array_is_several_groups() -> None:
    groups = decode_json(b'[{"t": 1}, {"t": 2, "TimeInstant": "2026-11-25T00:00:00+09:00"}]')
    assert [g.observed_at for g in groups] == [None, "2026-11-24T15:00:00.000000Z"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"pm25": 17', "malformed_payload"),
        (b"{}", "malformed_payload"),
        (b"[]", "malformed_payload"),
        (b"[1, 2]", "malformed_payload"),
        (b'"pm25"', "malformed_payload"),
        (b'{"TimeInstant": "2026-11-25T00:00:00Z"}', "malformed_payload"),  # no measure
        (b'{"t": 1, "TimeInstant": 1764000000}', "bad_timestamp"),
        (b'{"a/b": 1}', "malformed_payload"),
    ],
)
def test_json_refusals_name_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        decode_json(payload)
    assert caught.value.reason == reason


def test_decode_sniffs_the_format() -> None:
    assert decode(b' {"t": 1}') == [Group(None, (("t", 1),))]
    assert decode(b"t|1") == [Group(None, (("t", "1"),))]


def test_timestamp_with_nanoseconds_keeps_microseconds() -> None:
    assert parse_timestamp("2026-11-25T00:00:00.123456789Z") == "2026-11-25T00:00:00.123456Z"


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        ("17", "Number", 17),
        ("-3.5", "Number", -3.5),
        ("1e3", "Number", 1000.0),
        (17, "Number", 17),
        (21.5, "Number", 21.5),
        ("42", "Integer", 42),
        (42.0, "Integer", 42),
        ("true", "Boolean", True),
        ("0", "Boolean", False),
        (False, "Boolean", False),
        ("열림", "Text", "열림"),
    ],
)
def test_convert_accepts_fitting_values(raw: object, kind: str, expected: object) -> None:
    value = convert("m", raw, kind)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("abc", "Number"),
        ("nan", "Number"),
        ("inf", "Number"),
        (True, "Number"),  # a JSON boolean is not a number
        (None, "Number"),
        ({"v": 1}, "Number"),
        ("4.5", "Integer"),
        (4.5, "Integer"),
        ("yes", "Boolean"),
        (1, "Boolean"),
        (17, "Text"),
        ("x" * 1025, "Text"),
        ("a\x00b", "Text"),
    ],
)
def test_convert_refuses_values_that_do_not_fit(raw: object, kind: str) -> None:
    with pytest.raises(Refused) as caught:
        convert("m", raw, kind)
    assert caught.value.reason == "value_mismatch"
