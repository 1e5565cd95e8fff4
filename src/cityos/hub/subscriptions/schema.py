"""Check a Subscription body (GS CIM 009 v1.8, 5.2.12) and produce the form the hub stores.

The stored form is plain JSON: entity types and attribute names expanded to IRIs with the
request's @context, ``q``/``scopeQ`` kept as the text the client sent (they are parsed again,
with the stored ``context``, when the subscription index is built), ``expiresAt`` in UTC.
Read-only members a client may send back from a GET (``status``, the delivery statistics)
are ignored; every other unknown or wrong member is a 400 BadRequestData saying what to send.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cityos.hub._time import normalise_datetime, parse_datetime
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, HubError
from cityos.hub.geo import parse_geo_query
from cityos.hub.join import LinkedQuery, parse_linked_query
from cityos.hub.model import check_attribute_name, is_uri
from cityos.hub.query.qlang import parse_q
from cityos.hub.query.scope import parse_scope_q
from cityos.hub.typeq import parse_type_selection

TRIGGERS = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS = ["attributeCreated", "attributeUpdated"]
FORMATS = {
    "normalized": "normalized",
    "keyValues": "keyValues",
    "simplified": "keyValues",
    "concise": "concise",
}
ACCEPTS = ("application/json", "application/ld+json")
SCHEMES = ("http", "https", "mqtt", "mqtts")
MQTT_VERSIONS = ("mqtt3.1.1", "mqtt5.0")
MAX_LIST = 100  # entities, watchedAttributes, notification.attributes, receiverInfo
_READ_ONLY = {"status", "createdAt", "modifiedAt", "@context"}
_NOTIFICATION_READ_ONLY = {
    "status",
    "timesSent",
    "timesFailed",
    "lastNotification",
    "lastSuccess",
    "lastFailure",
}
_MEMBERS = {
    "id",
    "type",
    "subscriptionName",
    "description",
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "timeInterval",
    "q",
    "geoQ",
    "scopeQ",
    "isActive",
    "notification",
    "expiresAt",
    "throttling",
    "lang",
    "jsonldContext",
    "datasetId",
}
# join/joinLevel belong in notification (NotificationParams, 5.2.14), not at the top level
_UNSUPPORTED = {"csf", "temporalQ", "join", "joinLevel", "pick", "omit"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
MAX_SECONDS = 366 * 86400  # throttling and timeInterval beyond a year are surely mistakes


def bad(en: str, ko: str) -> BadRequestData:
    """Return a BadRequestData with the English and Korean message."""
    return BadRequestData(f"{en} / {ko}")


def _string(body: dict[str, Any], key: str, *, limit: int = 1000) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise bad(
            f"{key} must be a non-empty string of at most {limit} characters",
            f"{key}는 {limit}자 이하의 비어 있지 않은 문자열이어야 합니다",
        )
    return value


def _dataset_ids(value: object) -> list[str]:
    """Return a subscription's ``datasetId`` member: the datasetIds of the attribute
    instances its notifications carry (``@none``: the default instance; 4.5.5, 5.2.12)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise bad(
            f"datasetId must be a non-empty list of at most {MAX_LIST} datasetIds (URIs, or "
            '@none for the default instance), e.g. datasetId: ["urn:ngsi-ld:Dataset:a"]',
            f"datasetId는 datasetId(URI, 기본 인스턴스는 @none) {MAX_LIST}개 이하의 비어 있지 "
            '않은 목록이어야 합니다. 예: datasetId: ["urn:ngsi-ld:Dataset:a"]',
        )
    for dataset_id in value:
        if not isinstance(dataset_id, str) or not (dataset_id == "@none" or is_uri(dataset_id)):
            raise bad(
                f"datasetId: {dataset_id!r} is not a URI (nor @none)",
                f"datasetId: {dataset_id!r}은(는) URI가 아닙니다(@none도 아닙니다)",
            )
    return list(dict.fromkeys(value))


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise bad(
            f"{key} must be a number of seconds > 0 and <= {MAX_SECONDS} (got {value!r}), "
            f"e.g. {key}: 5",
            f"{key}는 0보다 크고 {MAX_SECONDS} 이하인 초 단위 숫자여야 합니다 (받은 값 {value!r})",
        )
    return value  # an integer stays an integer: shown back as it was given


def _names(value: object, key: str, ctx: ActiveContext) -> list[str]:
    """Return a non-empty list of attribute names expanded to IRIs (no duplicates)."""
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise bad(
            f"{key} must be a non-empty list of at most {MAX_LIST} attribute names, "
            f'e.g. {key}: ["pm25"]',
            f"{key}는 속성 이름 {MAX_LIST}개 이하의 비어 있지 않은 목록이어야 합니다",
        )
    out: list[str] = []
    for name in value:
        if not isinstance(name, str):
            raise bad(f"{key}: {name!r} is not a string", f"{key}: {name!r}는 문자열이 아닙니다")
        try:
            check_attribute_name(name)
        except HubError as error:
            detail, _, detail_ko = error.detail.partition(" / ")
            raise bad(f"{key}: {detail}", f"{key}: {detail_ko}") from None
        iri = ctx.expand(name)
        if iri not in out:
            out.append(iri)
    return out


PROJECTION_KEYWORDS = ("id", "type", "scope")  # entity members kept by name, not expanded


def _projection(value: object, key: str, ctx: ActiveContext) -> list[str]:
    """Return the entity members of a pick/omit (a list or a comma string), names expanded."""
    if isinstance(value, str):
        value = [v.strip() for v in re.split(r"[,|]", value)]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad(
            f'{key} must be a non-empty list of entity members, e.g. ["id", "pm25"]',
            f'{key}는 엔터티 항목의 목록이어야 합니다 (예: ["id", "pm25"])',
        )
    if any("{" in v for v in value):
        raise bad(
            f"{key}: nested projections (a{{b}}) need join, which CityOS does not support",
            f"{key}: 중첩 투영(a{{b}})은 join이 필요하며 지원하지 않습니다",
        )
    keywords = [v for v in value if v in PROJECTION_KEYWORDS]
    plain = [v for v in value if v not in PROJECTION_KEYWORDS]
    return [*dict.fromkeys(keywords), *(_names(plain, key, ctx) if plain else [])]


TYPE_OPERATORS = re.compile(r"[(),;|]")
_TYPE_TOKEN = re.compile(r"[^\s(),;|]+")


def map_type_names(text: str, convert: Callable[[str], str]) -> str:
    """Return a type expression with every type name converted (expanded or compacted)."""
    return _TYPE_TOKEN.sub(lambda m: convert(m.group(0)), re.sub(r"\s+", "", text))


def _entities(value: object, ctx: ActiveContext) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value or len(value) > MAX_LIST:
        raise bad(
            f"entities must be a non-empty list of at most {MAX_LIST} selectors such as "
            '{"type": "Vehicle"} or {"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:A1"}',
            f"entities는 {MAX_LIST}개 이하의 엔터티 선택자 목록이어야 합니다 "
            '(예: {"type": "Vehicle"})',
        )
    out = []
    for i, selector in enumerate(value):
        where = f"entities[{i}]"
        if not isinstance(selector, dict):
            raise bad(f"{where} must be an object", f"{where}는 객체여야 합니다")
        extra = set(selector) - {"id", "idPattern", "type"}
        if extra:
            raise bad(
                f"{where} has unknown members {sorted(extra)}; use id, idPattern and type",
                f"{where}에 알 수 없는 항목 {sorted(extra)}이 있습니다 "
                "(id, idPattern, type만 허용)",
            )
        kind = selector.get("type")
        if not isinstance(kind, str) or not kind:
            raise bad(
                f"{where}.type is required: the entity type to watch, e.g. Vehicle",
                f"{where}.type은 필수입니다 (감시할 엔터티 유형, 예: Vehicle)",
            )
        if TYPE_OPERATORS.search(kind):  # a v1.8 type expression, e.g. (A;B)|C

            def expand(name: str) -> str:
                check_attribute_name(name)
                return ctx.expand_type(name)

            try:
                parse_type_selection(kind, expand)
            except HubError as error:
                detail, _, detail_ko = error.detail.partition(" / ")
                raise bad(f"{where}.type: {detail}", f"{where}.type: {detail_ko}") from None
            item = {"type": map_type_names(kind, expand)}
        else:
            check_attribute_name(kind)
            item = {"type": ctx.expand_type(kind)}
        if "id" in selector:
            if not is_uri(selector["id"]):
                raise bad(
                    f"{where}.id must be an entity id (a URI), got {selector['id']!r}",
                    f"{where}.id는 엔터티 id(URI)여야 합니다",
                )
            item["id"] = selector["id"]
        if "idPattern" in selector:
            pattern = selector["idPattern"]
            try:
                if not isinstance(pattern, str) or len(pattern) > 1000:
                    raise re.error("not a string of at most 1000 characters")
                re.compile(pattern)
            except re.error as error:
                raise bad(
                    f"{where}.idPattern is not a valid regular expression ({error})",
                    f"{where}.idPattern이 올바른 정규식이 아닙니다 ({error})",
                ) from None
            item["idPattern"] = pattern
        out.append(item)
    return out


def _key_values(value: object, key: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise bad(
            f'{key} must be a list of {{"key": ..., "value": ...}} pairs',
            f'{key}는 {{"key": ..., "value": ...}} 쌍의 목록이어야 합니다',
        )
    out = []
    for pair in value:
        ok = isinstance(pair, dict) and set(pair) == {"key", "value"}
        ok = ok and isinstance(pair["key"], str) and isinstance(pair["value"], str)
        if ok and _HEADER_NAME.match(pair["key"]) and "\n" not in pair["value"]:
            out.append({"key": pair["key"], "value": pair["value"]})
            continue
        raise bad(
            f"{key}: {pair!r} is not a pair of a header-like key and a one-line string value",
            f"{key}: {pair!r}는 올바른 key/value 쌍이 아닙니다",
        )
    return out


def _endpoint(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(
            'notification.endpoint is required: {"uri": "http://host:port/path"} or '
            '{"uri": "mqtt://host:1883/topic"}',
            "notification.endpoint는 필수입니다 (uri: http://… 또는 mqtt://…)",
        )
    extra = set(value) - {"uri", "accept", "receiverInfo", "notifierInfo", "timeout", "cooldown"}
    if extra:
        raise bad(
            f"notification.endpoint has unknown members {sorted(extra)}",
            f"notification.endpoint에 알 수 없는 항목 {sorted(extra)}이 있습니다",
        )
    uri = value.get("uri")
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme not in SCHEMES or not parts.hostname:
        raise bad(
            f"notification.endpoint.uri must be an http, https, mqtt or mqtts URL with a host "
            f"(got {uri!r})",
            "notification.endpoint.uri는 호스트가 있는 http, https, mqtt, mqtts URL이어야 합니다",
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise bad(
            f"notification.endpoint.uri has an invalid port: {uri!r}",
            "notification.endpoint.uri의 포트가 잘못되었습니다",
        ) from None
    mqtt = parts.scheme.startswith("mqtt")
    if mqtt and not parts.path.strip("/"):
        raise bad(
            "an MQTT endpoint needs a topic: mqtt://host:1883/some/topic",
            "MQTT 엔드포인트에는 토픽이 필요합니다: mqtt://host:1883/some/topic",
        )
    accept = value.get("accept", "application/json")
    if accept not in ACCEPTS:
        raise bad(
            f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)} (got {accept!r})",
            f"notification.endpoint.accept는 {', '.join(ACCEPTS)} 중 하나여야 합니다",
        )
    out: dict[str, Any] = {"uri": uri, "accept": accept}
    for key in ("receiverInfo", "notifierInfo"):
        if key in value:
            out[key] = _key_values(value[key], f"notification.endpoint.{key}")
    for info in out.get("notifierInfo", []):
        if info["key"] == "MQTT-Version" and info["value"] not in MQTT_VERSIONS:
            raise bad(
                f"MQTT-Version must be one of {', '.join(MQTT_VERSIONS)}",
                f"MQTT-Version은 {', '.join(MQTT_VERSIONS)} 중 하나여야 합니다",
            )
        if info["key"] == "MQTT-QoS" and info["value"] not in ("0", "1"):
            raise bad(
                "MQTT-QoS must be 0 or 1 (QoS 2 is not supported)",
                "MQTT-QoS는 0 또는 1이어야 합니다 (QoS 2는 지원하지 않습니다)",
            )
    if "timeout" in value:
        timeout = value["timeout"]
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise bad(
                "notification.endpoint.timeout must be a number of milliseconds > 0",
                "notification.endpoint.timeout은 0보다 큰 밀리초 값이어야 합니다",
            )
        out["timeout"] = timeout
    return out


def _notification(value: object, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(
            'notification is required: {"endpoint": {"uri": "http://host/path"}}',
            'notification은 필수입니다: {"endpoint": {"uri": "http://host/path"}}',
        )
    known = {"attributes", "pick", "omit", "format", "showChanges", "sysAttrs", "endpoint"}
    known |= {"join", "joinLevel"}
    extra = set(value) - known - _NOTIFICATION_READ_ONLY
    if extra:
        raise bad(
            f"notification has unknown members {sorted(extra)}; use {', '.join(sorted(known))}",
            f"notification에 알 수 없는 항목 {sorted(extra)}이 있습니다",
        )
    fmt = value.get("format", "normalized")
    if fmt not in FORMATS:
        raise bad(
            f"notification.format must be normalized, keyValues or concise (got {fmt!r})",
            "notification.format은 normalized, keyValues, concise 중 하나여야 합니다",
        )
    out: dict[str, Any] = {"format": FORMATS[fmt], "endpoint": _endpoint(value.get("endpoint"))}
    if value.get("attributes") is not None:
        out["attributes"] = _names(value["attributes"], "notification.attributes", ctx)
    for key in ("pick", "omit"):  # v1.8.1 clause 4.21 projection of the notified entities
        if value.get(key) is not None:
            if "attributes" in out:
                raise bad(
                    f"notification.{key} cannot be combined with notification.attributes; "
                    "use pick alone",
                    f"notification.{key}와 notification.attributes는 함께 쓸 수 없습니다",
                )
            out[key] = _projection(value[key], f"notification.{key}", ctx)
    both = set(out.get("pick", ())) & set(out.get("omit", ()))
    if both:
        raise bad(
            f"notification.pick and notification.omit both name {sorted(both)}",
            f"notification.pick과 omit에 같은 항목 {sorted(both)}이 있습니다",
        )
    for flag in ("showChanges", "sysAttrs"):
        raw = value.get(flag, False)
        if not isinstance(raw, bool):
            raise bad(
                f"notification.{flag} must be true or false", f"{flag}는 true/false여야 합니다"
            )
        out[flag] = raw
    linked = _linked(value)
    if linked is not None:
        out["join"] = linked.join
        out["joinLevel"] = linked.level
    if out["showChanges"] and out["format"] == "keyValues":
        raise bad(
            "notification.showChanges needs format normalized or concise (keyValues has no "
            "place for previousValue)",
            "notification.showChanges는 normalized 또는 concise 형식에서만 쓸 수 있습니다",
        )
    return out


def _linked(value: dict[str, Any]) -> LinkedQuery | None:
    """Return the linked entity retrieval (4.5.23) ``notification.join``/``joinLevel`` ask
    for, or None (no join, or ``@none``)."""
    try:
        linked = parse_linked_query({k: value[k] for k in ("join", "joinLevel") if k in value})
    except BadRequestData as error:
        en, _, ko = error.detail.partition(" / ")  # parse_linked_query's errors are bilingual
        raise bad(f"notification.{en}", f"notification.{ko}") from None
    if linked is None and "joinLevel" in value:
        raise bad(
            'notification.joinLevel needs notification.join ("inline" or "flat")',
            'notification.joinLevel은 notification.join("inline" 또는 "flat")과 함께 써야 합니다',
        )
    return linked


def _geo_q(value: object, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(
            'geoQ must be an object, e.g. {"georel": "near;maxDistance==500", '
            '"geometry": "Point", "coordinates": [127.26, 36.5]}',
            "geoQ는 georel, geometry, coordinates를 가진 객체여야 합니다",
        )
    extra = set(value) - {"georel", "geometry", "coordinates", "geoproperty"}
    if extra:
        raise bad(
            f"geoQ has unknown members {sorted(extra)}", f"geoQ 알 수 없는 항목 {sorted(extra)}"
        )
    for key in ("georel", "geometry", "coordinates"):
        if key not in value:
            raise bad(f"geoQ.{key} is missing", f"geoQ.{key}가 없습니다")
    geo = parse_geo_query(
        value["georel"],
        value["geometry"],
        value["coordinates"],
        value.get("geoproperty"),
        expand=ctx.expand,
    )
    assert geo is not None
    out = {"georel": geo.georel_text, "geometry": value["geometry"], "coordinates": geo.geojson}
    out["coordinates"] = geo.geojson["coordinates"]
    if "geoproperty" in value:
        out["geoproperty"] = geo.geoproperty
    return out


def validate(
    body: object, ctx: ActiveContext, *, now: datetime | None = None, creating: bool = True
) -> dict[str, Any]:
    """Return the stored form of a Subscription body, or raise BadRequestData (400)."""
    if not isinstance(body, dict):
        raise bad("a subscription must be a JSON object", "구독은 JSON 객체여야 합니다")
    unsupported = _UNSUPPORTED & set(body)
    if unsupported:
        raise bad(
            f"{', '.join(sorted(unsupported))} in subscriptions is not supported by this broker",
            f"이 브로커는 구독의 {', '.join(sorted(unsupported))}를 지원하지 않습니다",
        )
    extra = set(body) - _MEMBERS - _READ_ONLY
    if extra:
        raise bad(
            f"unknown subscription members {sorted(extra)}; see GS CIM 009 5.2.12",
            f"알 수 없는 구독 항목 {sorted(extra)}",
        )
    if body.get("type", "Subscription") != "Subscription":
        raise bad('type must be "Subscription"', 'type은 "Subscription"이어야 합니다')
    sub_id = body.get("id")
    if sub_id is None:
        sub_id = f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    elif not is_uri(sub_id):
        raise bad(
            f"id must be a URI such as urn:ngsi-ld:Subscription:air-alerts (got {sub_id!r})",
            "id는 URI여야 합니다 (예: urn:ngsi-ld:Subscription:air-alerts)",
        )
    out: dict[str, Any] = {"id": sub_id, "type": "Subscription"}
    for key in ("subscriptionName", "description", "lang"):
        text = _string(body, key)
        if text is not None:
            out[key] = text
    if body.get("entities") is not None:
        out["entities"] = _entities(body["entities"], ctx)
    if body.get("watchedAttributes") is not None:
        out["watchedAttributes"] = _names(body["watchedAttributes"], "watchedAttributes", ctx)
    interval = _seconds(body, "timeInterval")
    throttling = _seconds(body, "throttling")
    if interval is not None:
        if "watchedAttributes" in out or throttling is not None:
            raise bad(
                "timeInterval (periodic) cannot be combined with watchedAttributes or throttling",
                "timeInterval(주기 알림)은 watchedAttributes나 throttling과 함께 쓸 수 없습니다",
            )
        if "entities" not in out:
            raise bad(
                "a periodic subscription (timeInterval) needs entities",
                "주기 구독(timeInterval)에는 entities가 필요합니다",
            )
        out["timeInterval"] = interval
    elif "entities" not in out and "watchedAttributes" not in out:
        raise bad(
            "give entities, watchedAttributes or both: what should trigger a notification?",
            "entities나 watchedAttributes 중 하나 이상을 지정하세요",
        )
    if throttling is not None:
        out["throttling"] = throttling
    triggers = body.get("notificationTrigger", DEFAULT_TRIGGERS)
    if not isinstance(triggers, list) or not triggers or not all(t in TRIGGERS for t in triggers):
        raise bad(
            f"notificationTrigger must be a non-empty list of {', '.join(TRIGGERS)}",
            f"notificationTrigger는 {', '.join(TRIGGERS)} 중 값의 목록이어야 합니다",
        )
    out["notificationTrigger"] = list(dict.fromkeys(triggers))
    if body.get("q") is not None:
        if not isinstance(body["q"], str):
            raise bad("q must be a string, e.g. pm25>35", "q는 문자열이어야 합니다 (예: pm25>35)")
        parse_q(body["q"]).expanded(ctx.expand)  # raises 400 with the position
        out["q"] = body["q"]
    if body.get("scopeQ") is not None:
        if not isinstance(body["scopeQ"], str):
            raise bad("scopeQ must be a string, e.g. /Sejong/#", "scopeQ는 문자열이어야 합니다")
        parse_scope_q(body["scopeQ"])
        out["scopeQ"] = body["scopeQ"]
    if body.get("geoQ") is not None:
        out["geoQ"] = _geo_q(body["geoQ"], ctx)
    if body.get("isActive") is not None:  # absent: active, and not shown (as given)
        if not isinstance(body["isActive"], bool):
            raise bad("isActive must be true or false", "isActive는 true/false여야 합니다")
        out["isActive"] = body["isActive"]
    if body.get("expiresAt") is not None:
        if creating:
            check_future_expiry(body, now=now)
        out["expiresAt"] = normalise_datetime(body["expiresAt"], field="expiresAt")
    if body.get("datasetId") is not None:
        out["datasetId"] = _dataset_ids(body["datasetId"])
    if body.get("jsonldContext") is not None:
        if not is_uri(body["jsonldContext"]):
            raise bad("jsonldContext must be a URL", "jsonldContext는 URL이어야 합니다")
        out["jsonldContext"] = body["jsonldContext"]
    out["notification"] = _notification(body.get("notification"), ctx)
    out["context"] = ctx.source
    return out


def check_future_expiry(body: dict[str, Any], *, now: datetime | None = None) -> None:
    """Raise BadRequestData if ``body`` sets ``expiresAt`` to a time not in the future.

    Create (5.8.1) and update (5.8.2: "If expiresAt is included but referring to a DateTime
    in the past") both refuse it; an update that leaves expiresAt alone is not checked, so
    an expired subscription can still be changed (e.g. given a new expiresAt).
    """
    if body.get("expiresAt") is None:
        return
    expires = normalise_datetime(body["expiresAt"], field="expiresAt")
    if parse_datetime(expires, field="expiresAt") <= (now or datetime.now(UTC)):
        raise bad(
            f"expiresAt {body['expiresAt']} is in the past; give a future time",
            f"expiresAt {body['expiresAt']}이 과거입니다. 미래 시각을 지정하세요",
        )


def merge(stored: dict[str, Any], fragment: object) -> dict[str, Any]:
    """Return a stored subscription with a PATCH fragment applied (5.8.2); null removes.

    Names in ``fragment`` are still terms; the result is validated again by the caller
    (stored names are IRIs, which expand to themselves).
    """
    if not isinstance(fragment, dict) or not fragment:
        raise bad(
            "the PATCH body must be a non-empty JSON object of subscription members",
            "PATCH 본문은 구독 항목을 담은 비어 있지 않은 JSON 객체여야 합니다",
        )
    if "id" in fragment and fragment["id"] != stored["id"]:
        raise bad("a subscription's id cannot be changed", "구독 id는 바꿀 수 없습니다")
    merged = {k: v for k, v in stored.items() if k != "context"}
    for key, value in fragment.items():
        if key == "@context":
            continue
        if value is None or value == "urn:ngsi-ld:null":
            merged.pop(key, None)
        elif key == "notification" and isinstance(value, dict):
            note = dict(merged.get("notification", {}))
            for k, v in value.items():
                if v is None:
                    note.pop(k, None)
                else:
                    note[k] = v
            merged["notification"] = note
        else:
            merged[key] = value
    return merged


def status_of(stored: dict[str, Any], now: datetime) -> str:
    """Return active, paused or expired (5.2.12 ``status``)."""
    expires = stored.get("expiresAt")
    if expires is not None and parse_datetime(expires, field="expiresAt") <= now:
        return "expired"
    return "active" if stored.get("isActive", True) else "paused"
