"""Read and check a POST Service Request (Open311 form fields) before anything is stored.

Every refusal is a :class:`~cityos.governance.errors.BadRequest` (or NotFound for a wrong
jurisdiction) naming the field and how to fix it. Contact fields (``email``, ``first_name``,
``last_name``, ``phone``, ``device_id``, ``account_id``) are accepted, as the spec allows,
and dropped: CityOS keeps no contact details with a complaint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cityos.governance.catalog import BY_CODE, Service, codes_text
from cityos.governance.errors import BadRequest, NotFound
from cityos.governance.places import NEAR_SEJONG_M, outside_sejong_m

JURISDICTION = "sejong.go.kr"
MAX_DESCRIPTION = 4000  # characters, as the published Open311 request schema
MAX_ADDRESS = 500
MAX_URL = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ATTRIBUTE = re.compile(r"^attribute\[([a-z0-9_]{1,40})\](\[\])?$")
DROPPED = frozenset({"email", "first_name", "last_name", "phone", "device_id", "account_id"})
KNOWN = frozenset(
    {
        "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id",
        "description", "media_url", "api_key", "webhook_url", "duplicate_action",
    }
) | DROPPED  # fmt: skip
DUPLICATE_ACTIONS = ("ask", "new", "join")


@dataclass
class NewRequest:
    """A checked POST Service Request."""

    service_code: str | None
    description: str | None
    lat: float | None
    lon: float | None
    address_string: str | None
    attributes: dict[str, str | list[str]] = field(default_factory=dict)
    media_url: str | None = None
    webhook_url: str | None = None
    duplicate_action: str = "ask"


def check_jurisdiction(value: str | None) -> None:
    """Refuse (404) a jurisdiction other than Sejong's; none (or an empty one) is Sejong.

    GeoReport v2 ("Optional Arguments"): an empty parameter is the same as none at all.
    """
    if value is not None and value.strip() and value.strip().lower() != JURISDICTION:
        raise NotFound(
            f"jurisdiction_id {value[:60]!r} is not served here; use {JURISDICTION!r} or leave it "
            "out.",
            f"jurisdiction_id {value[:60]!r}는 이곳에서 처리하지 않습니다. "
            f"{JURISDICTION!r}를 쓰거나 생략하세요.",
        )


def text_field(name: str, value: str | None, limit: int) -> str | None:
    """Return a trimmed text field (None if empty), refusing control characters and length."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > limit:
        raise BadRequest(
            f"{name} has {len(value)} characters; at most {limit} are allowed.",
            f"{name}은(는) {len(value)}자입니다. 최대 {limit}자까지 쓸 수 있습니다.",
        )
    if _CONTROL.search(value):
        raise BadRequest(
            f"{name} contains control characters; send plain text.",
            f"{name}에 제어 문자가 들어 있습니다. 일반 텍스트로 보내세요.",
        )
    return value


def url_field(name: str, value: str | None) -> str | None:
    """Return an http(s) URL field, or refuse it."""
    text = text_field(name, value, MAX_URL)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(
            f"{name} must be an http:// or https:// URL.",
            f"{name}은(는) http:// 또는 https:// URL이어야 합니다.",
        )
    return text


def _coordinate(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        raise BadRequest(
            f"{name} must be a number of degrees (WGS84) between {low} and {high}.",
            f"{name}은(는) {low}~{high} 사이의 도(WGS84) 단위 숫자여야 합니다.",
        )
    return number


def location(fields: Mapping[str, str]) -> tuple[float | None, float | None, str | None]:
    """Return (lat, long, address_string): a point in or near Sejong, an address, or both."""
    lat_text, lon_text = fields.get("lat", "").strip(), fields.get("long", "").strip()
    address = text_field("address_string", fields.get("address_string"), MAX_ADDRESS)
    if bool(lat_text) != bool(lon_text):
        raise BadRequest(
            "Send both lat and long, or neither (then address_string).",
            "lat과 long을 함께 보내거나, 둘 다 빼고 address_string을 보내세요.",
        )
    if not lat_text:
        if address is None:
            hint = " (CityOS has no address_id register)" if fields.get("address_id") else ""
            raise BadRequest(
                f"Say where the problem is: send lat and long, or address_string{hint}.",
                "위치를 알려 주세요: lat과 long, 또는 address_string을 보내세요.",
            )
        return None, None, address
    lat = _coordinate("lat", lat_text, -90.0, 90.0)
    lon = _coordinate("long", lon_text, -180.0, 180.0)
    outside = outside_sejong_m(lat, lon)
    if outside > NEAR_SEJONG_M:
        raise BadRequest(
            f"The point ({lat:.5f}, {lon:.5f}) is {outside / 1000:.1f} km outside Sejong; "
            "complaints here are for Sejong only. Check the pin (lat is about 36.5, long about "
            "127.3) or use the other city's service.",
            f"지점({lat:.5f}, {lon:.5f})이 세종시 경계에서 {outside / 1000:.1f} km 밖입니다. "
            "세종시 민원만 받습니다. 지도 핀을 확인하세요(위도 약 36.5, 경도 약 127.3).",
        )
    return lat, lon, address


def attributes(
    service: Service, fields: Mapping[str, str | list[str]]
) -> dict[str, str | list[str]]:
    """Return the ``attribute[code]`` values checked against the service definition."""
    given: dict[str, str | list[str]] = {}
    for key, value in fields.items():
        match = _ATTRIBUTE.match(key)
        if match is None:
            continue
        given[match.group(1)] = value
    known = {a.code: a for a in service.attributes}
    for code in list(given):
        if code not in known:
            names = ", ".join(known) or "none"
            raise BadRequest(
                f"attribute[{code}] is not an attribute of {service.code!r} (its attributes: "
                f"{names}); see GET /open311/v2/services/{service.code}.json.",
                f"attribute[{code}]은(는) {service.code!r}의 속성이 아닙니다(속성: {names}).",
            )
    for attribute in service.attributes:
        value = given.get(attribute.code, "")
        if value == "" or value == []:
            if attribute.required:
                raise BadRequest(
                    f"attribute[{attribute.code}] is required for {service.code!r}.",
                    f"{service.code!r}에는 attribute[{attribute.code}]이(가) 필요합니다.",
                )
            given.pop(attribute.code, None)
            continue
        allowed = {key for key, _ in attribute.values}
        values = value if isinstance(value, list) else [value]
        if attribute.datatype == "singlevaluelist" and len(values) != 1:
            raise BadRequest(
                f"attribute[{attribute.code}] takes one value.",
                f"attribute[{attribute.code}]에는 값 하나만 보낼 수 있습니다.",
            )
        if allowed and not set(values) <= allowed:
            raise BadRequest(
                f"attribute[{attribute.code}] must be one of {', '.join(sorted(allowed))}.",
                f"attribute[{attribute.code}]는 다음 중 하나여야 합니다: "
                f"{', '.join(sorted(allowed))}.",
            )
        for item in values:
            text_field(f"attribute[{attribute.code}]", item, 200)
    return given


def service_code(
    value: str | None, *, unknown: type[BadRequest | NotFound] = BadRequest
) -> Service | None:
    """Return the named service, None if none is named, or refuse an unknown code.

    A POST names a resource that must exist, so GeoReport v2 answers 404 there
    (``unknown=NotFound``); a filter of GET Service Requests is a 400.
    """
    if value is None or not value.strip():
        return None
    found = BY_CODE.get(value.strip())
    if found is None:
        raise unknown(
            f"service_code {value.strip()[:40]!r} is unknown; use one of: {codes_text()}.",
            f"service_code {value.strip()[:40]!r}은(는) 없는 유형입니다. 다음 중 하나를 쓰세요: "
            f"{codes_text()}.",
        )
    return found


def single(fields: Mapping[str, str | list[str]], name: str) -> str | None:
    """Return a field sent at most once, or refuse it sent several times."""
    value = fields.get(name)
    if isinstance(value, list):
        raise BadRequest(f"Send {name} only once.", f"{name}은(는) 한 번만 보내세요.")
    return value


def read(fields: Mapping[str, str | list[str]]) -> tuple[NewRequest, Service | None]:
    """Return the checked request and its service (None: the classifier must suggest one)."""
    for name in fields:
        if name not in KNOWN and _ATTRIBUTE.match(name) is None:
            raise BadRequest(
                f"Unknown field {name[:40]!r}; Open311 POST fields are jurisdiction_id, "
                "service_code, lat, long, address_string, description, media_url, attribute[…] "
                "(and CityOS's webhook_url, duplicate_action).",
                f"알 수 없는 항목 {name[:40]!r}입니다.",
            )
    flat = {k: v for k, v in ((n, single(fields, n)) for n in KNOWN) if v is not None}
    check_jurisdiction(flat.get("jurisdiction_id"))
    found = service_code(flat.get("service_code"), unknown=NotFound)
    description = text_field("description", flat.get("description"), MAX_DESCRIPTION)
    lat, lon, address = location(flat)
    action = (flat.get("duplicate_action") or "ask").strip()
    if action not in DUPLICATE_ACTIONS:
        raise BadRequest(
            "duplicate_action is ask (the default), new or join.",
            "duplicate_action은 ask(기본값), new, join 중 하나입니다.",
        )
    request = NewRequest(
        service_code=found.code if found else None,
        description=description,
        lat=lat,
        lon=lon,
        address_string=address,
        attributes=attributes(found, fields) if found else {},
        media_url=url_field("media_url", flat.get("media_url")),
        webhook_url=url_field("webhook_url", flat.get("webhook_url")),
        duplicate_action=action,
    )
    return request, found
