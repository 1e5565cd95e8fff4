"""Open311 GeoReport v2 at /open311/v2: every method, both formats, validated against
CityOS's own schemas written from the spec (tests/governance/schemas/open311/); every kind of
bad input answers an Open311 error list, never a 500. docs/conformance.md records the check."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.governance import service
from cityos.governance.catalog import SERVICES
from tests.governance.conftest import BASE, SEJONG, SEOUL, City, from_xml, post, pothole, validate


def body(response: Any, fmt: str, *, answer: bool = False) -> Any:
    if fmt == "xml":
        assert response.headers["content-type"].startswith("text/xml")
        return from_xml(response.content, answer=answer)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def assert_error(response: Any, status: int, fmt: str = "json", *, says: str = "") -> str:
    assert response.status_code == status, response.text
    errors = body(response, fmt)
    validate("errors", errors)
    assert errors[0]["code"] == status
    description = errors[0]["description"]
    assert " / " in description  # English / 한국어
    assert says in description, description
    return str(description)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_and_service_list(city: City, fmt: str) -> None:
    r = city.client.get(f"{BASE}/discovery.{fmt}")
    assert r.status_code == 200
    found = body(r, fmt)
    validate("discovery", found)
    assert found["endpoints"][0]["url"].endswith("/open311/v2")
    r = city.client.get(f"{BASE}/services.{fmt}", params={"jurisdiction_id": "sejong.go.kr"})
    services = body(r, fmt)
    validate("services", services)
    assert [s["service_code"] for s in services] == [s.code for s in SERVICES]
    road = services[0]
    assert road["service_name"] == "도로·보도 파손 (Damaged road or pavement)"
    assert {s["service_code"] for s in services} == {
        "road", "parking", "traffic", "waste", "streetlight", "park", "water",
        "environment", "construction", "animal", "safety", "other",
    }  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definitions(city: City, fmt: str) -> None:
    for entry in SERVICES:
        r = city.client.get(f"{BASE}/services/{entry.code}.{fmt}")
        assert r.status_code == 200, r.text
        definition = body(r, fmt)
        validate("service-definition", definition)
        assert len(definition["attributes"]) == len(entry.attributes)
    hazard = body(city.client.get(f"{BASE}/services/safety.{fmt}"), fmt)["attributes"][0]
    assert hazard["code"] == "hazard"
    assert [v["key"] for v in hazard["values"]] == ["yes", "no"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_then_read_by_id_token_and_filters(city: City, fmt: str) -> None:
    r = pothole(city, **{"attribute[hazard]": "yes", "attribute[size]": "large"})
    assert r.status_code == 201, r.text
    created = r.json()
    validate("post-answer", created)
    request_id = created[0]["service_request_id"]
    # A realtime service answers its id and, as the spec says, then no token.
    assert "token" not in created[0]
    assert "도로과" in created[0]["service_notice"]
    with city.engine.connect() as connection:
        token = service.token_of(connection, request_id=int(request_id))

    r = city.client.get(f"{BASE}/requests/{request_id}.{fmt}")
    assert r.status_code == 200
    found = body(r, fmt)
    validate("requests", found)
    request = found[0]
    assert request["status"] == "open"
    assert request["workflow_status"] == "received"
    assert request["service_code"] == "road"
    assert request["agency_responsible"] == "도로과 (Road Division)"
    assert request["lat"] == pytest.approx(SEJONG[0])
    assert request["requested_datetime"].endswith("+09:00")  # shown in Asia/Seoul

    tokens = body(city.client.get(f"{BASE}/tokens/{token}.{fmt}"), fmt, answer=True)
    validate("token-answer", tokens)
    assert tokens[0]["service_request_id"] == request_id

    listed = body(city.client.get(f"{BASE}/requests.{fmt}", params={"service_code": "road"}), fmt)
    validate("requests", listed)
    assert request_id in {x["service_request_id"] for x in listed}
    by_id = city.client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": request_id})
    assert [x["service_request_id"] for x in body(by_id, fmt)] == [request_id]
    closed = body(city.client.get(f"{BASE}/requests.{fmt}", params={"status": "closed"}), fmt)
    assert request_id not in {x["service_request_id"] for x in closed}
    other = body(city.client.get(f"{BASE}/requests.{fmt}", params={"service_code": "park"}), fmt)
    assert request_id not in {x["service_request_id"] for x in other}
    window = {"start_date": "2020-01-01T00:00:00+09:00", "end_date": "2020-02-01T00:00:00+09:00"}
    old = body(city.client.get(f"{BASE}/requests.{fmt}", params=window), fmt)
    assert old == []


def test_post_with_an_address_only_and_with_xml_answer(city: City) -> None:
    r = post(city, "xml", service_code="waste", address_string="세종시 한누리대로 2130 앞")
    assert r.status_code == 201, r.text
    created = from_xml(r.content, answer=True)
    validate("post-answer", created)
    assert created[0]["account_id"] is None
    assert "token" not in created[0]
    request_id = created[0]["service_request_id"]
    assert request_id.isdigit()
    joined = city.client.post(f"{BASE}/requests/{request_id}/join.xml", data={"api_key": "x"})
    assert_error(joined, 403, "xml", says="api_key")
    citizen = city.make_user()
    joined = city.client.post(f"{BASE}/requests/{request_id}/join.xml", headers=citizen)
    assert joined.status_code == 200
    assert from_xml(joined.content, answer=True)[0]["supporters"] == 1


def test_script_in_text_is_escaped_in_both_formats(city: City) -> None:
    script = "<script>alert('x')</script> 쓰레기 & 냄새"
    r = post(city, service_code="waste", address_string="나성동", description=script)
    request_id = r.json()[0]["service_request_id"]
    xml = city.client.get(f"{BASE}/requests/{request_id}.xml").content
    assert b"<script>" not in xml
    assert from_xml(xml)[0]["description"] == script
    assert city.client.get(f"{BASE}/requests/{request_id}.json").json()[0]["description"] == script


BAD_POSTS: list[tuple[dict[str, Any], int, str]] = [
    ({"service_code": "road"}, 400, "lat and long"),  # no location
    ({"service_code": "road", "lat": str(SEOUL[0]), "long": str(SEOUL[1])}, 400, "outside Sejong"),
    ({"service_code": "road", "lat": "36.5"}, 400, "both lat and long"),
    ({"service_code": "road", "lat": "abc", "long": "127.3"}, 400, "lat must be a number"),
    ({"service_code": "road", "lat": "nan", "long": "127.3"}, 400, "lat must be a number"),
    ({"service_code": "road", "lat": "95", "long": "127.3"}, 400, "lat must be a number"),
    ({"service_code": "pothole", "address_string": "x"}, 404, "unknown"),  # spec: 404
    ({"address_string": "나성동"}, 400, "Send service_code, or a description"),
    ({"service_code": "road", "address_string": "x", "description": "가" * 4001}, 400, "4000"),
    ({"service_code": "road", "address_string": "x", "description": "a\x00b"}, 400, "control"),
    ({"service_code": "road", "address_string": "x", "attribute[color]": "red"}, 400, "color"),
    ({"service_code": "road", "address_string": "x", "attribute[hazard]": "maybe"}, 400, "yes"),
    ({"service_code": "road", "address_string": "x", "media_url": "ftp://x/y"}, 400, "http"),
    ({"service_code": "road", "address_string": "x", "webhook_url": "nope"}, 400, "http"),
    ({"service_code": "road", "address_string": "x", "favourite": "1"}, 400, "Unknown field"),
    ({"service_code": "road", "address_string": "x", "duplicate_action": "merge"}, 400, "ask"),
    ({"service_code": "road", "address_id": "123"}, 400, "address_id"),
    ({"service_code": "road", "address_string": "x", "jurisdiction_id": "seoul.go.kr"}, 404, ""),
]


@pytest.mark.parametrize(("fields", "status", "says"), BAD_POSTS)
def test_bad_posts_get_clear_open311_errors(
    city: City, fields: dict[str, Any], status: int, says: str
) -> None:
    before = city.client.get(f"{BASE}/requests.json").json()
    assert_error(post(city, **fields), status, says=says)
    assert city.client.get(f"{BASE}/requests.json").json() == before  # nothing was stored


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_credentials_and_unknowns(city: City, fmt: str) -> None:
    fields = {"service_code": "road", "address_string": "x"}
    assert_error(post(city, fmt, **{**fields, "api_key": None}), 403, fmt, says="api_key")
    assert_error(post(city, fmt, **{**fields, "api_key": "cityos_0_bad"}), 403, fmt, says="api_key")
    assert_error(city.client.get(f"{BASE}/services/pothole.{fmt}"), 404, fmt)
    assert_error(city.client.get(f"{BASE}/requests/999999.{fmt}"), 404, fmt)
    assert_error(city.client.get(f"{BASE}/requests/abc.{fmt}"), 404, fmt, says="numbers")
    assert_error(city.client.get(f"{BASE}/tokens/nope.{fmt}"), 404, fmt)
    params = {"jurisdiction_id": "seoul.go.kr"}
    assert_error(city.client.get(f"{BASE}/services.{fmt}", params=params), 404, fmt, says="sejong")
    assert_error(city.client.get(f"{BASE}/requests.{fmt}", params={"status": "x"}), 400, fmt)
    bad_date = {"start_date": "yesterday"}
    assert_error(city.client.get(f"{BASE}/requests.{fmt}", params=bad_date), 400, fmt)
    span = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert_error(city.client.get(f"{BASE}/requests.{fmt}", params=span), 400, fmt, says="90")
    codes = {"service_code": "nope"}
    assert_error(city.client.get(f"{BASE}/requests.{fmt}", params=codes), 400, fmt)
    assert_error(city.client.get(f"{BASE}/nothing.{fmt}"), 404, fmt)
    assert_error(city.client.get(f"{BASE}/services.csv"), 400, "json", says=".json or .xml")


def test_malformed_bodies(city: City) -> None:
    url = f"{BASE}/requests.json"
    key = {"api_key": city.api_key}
    assert_error(city.client.post(url, params=key, content=b"\xff\xfe", headers={
        "content-type": "application/x-www-form-urlencoded"}), 400, says="UTF-8")  # fmt: skip
    assert_error(city.client.post(url, params=key, content=b"{", headers={
        "content-type": "application/json"}), 400, says="JSON")  # fmt: skip
    assert_error(city.client.post(url, params=key, json=[1]), 400, says="object")
    assert_error(city.client.post(url, params=key, content=b"x", headers={
        "content-type": "text/plain"}), 400, says="form")  # fmt: skip
    assert_error(city.client.post(url, params=key, content=b"a=" + b"x" * 70_000, headers={
        "content-type": "application/x-www-form-urlencoded"}), 400, says="KiB")  # fmt: skip
    twice = "api_key=" + city.api_key + "&service_code=road&service_code=park&address_string=x"
    assert_error(city.client.post(url, content=twice.encode(), headers={
        "content-type": "application/x-www-form-urlencoded"}), 400, says="once")  # fmt: skip


def test_json_body_and_citizen_login_without_key(city: City) -> None:
    citizen = city.make_user()
    r = city.client.post(
        f"{BASE}/requests.json",
        json={"service_code": "streetlight", "lat": SEJONG[0], "long": SEJONG[1]},
        headers=citizen,
    )
    assert r.status_code == 201, r.text
    mine = city.client.get("/complaints/me/requests", headers=citizen).json()
    assert [m["service_request_id"] for m in mine] == [r.json()[0]["service_request_id"]]


def test_a_key_made_by_cityos_keys_create_posts_and_a_revoked_one_does_not(city: City) -> None:
    from typer.testing import CliRunner

    from cityos.cli import app as cli

    url = ["--database-url", city.settings.database_url]
    made = CliRunner().invoke(
        cli, ["keys", "create", "--name", "민원 앱", "--role", "developer", *url]
    )
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("cityos_")
    fields = {"service_code": "park", "address_string": "세종호수공원", "api_key": key}
    assert post(city, **fields).status_code == 201
    prefix = key.split("_")[1]
    revoked = CliRunner().invoke(cli, ["keys", "revoke", prefix, *url])
    assert revoked.exit_code == 0, revoked.output
    assert_error(post(city, **fields), 403, says="revoked")


@pytest.mark.parametrize(
    "document",
    [
        b"<services><service><service_code>x</service_code></service></services>",
        b"<service_requests><request><service_request_id>1</service_request_id>"
        b"<status>pending</status><service_code>road</service_code>"
        b"<requested_datetime>2026-12-01T09:00:00+09:00</requested_datetime></request>"
        b"</service_requests>",
        b"<errors><error><code>x</code><description>d</description></error></errors>",
        b"<service_requests><request><service_request_id>1</service_request_id>"
        b"<status>open</status><service_code>road</service_code>"
        b"<requested_datetime>2026-12-01T09:00:00</requested_datetime></request>"
        b"</service_requests>",  # a date-time without its zone
    ],
)
def test_the_xsd_refuses_what_the_spec_does_not_allow(document: bytes) -> None:
    import io

    import xmlschema

    from tests.governance.conftest import xsd

    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xsd("georeport-v2").validate(io.BytesIO(document))


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_jurisdiction_id_on_every_method(city: City, fmt: str) -> None:
    """sejong.go.kr, an empty value or none is served; any other jurisdiction is a 404."""
    created = pothole(city).json()[0]["service_request_id"]
    with city.engine.connect() as connection:
        token = service.token_of(connection, request_id=int(created))
    urls = ["services", "services/road", "requests", f"requests/{created}", f"tokens/{token}"]
    for url in urls:
        for ours in ("sejong.go.kr", "SEJONG.GO.KR", ""):
            r = city.client.get(f"{BASE}/{url}.{fmt}", params={"jurisdiction_id": ours})
            assert r.status_code == 200, (url, ours, r.text)
        r = city.client.get(f"{BASE}/{url}.{fmt}", params={"jurisdiction_id": "sfgov.org"})
        assert_error(r, 404, fmt, says="sejong.go.kr")
    fields = {"service_code": "park", "address_string": "세종호수공원", "duplicate_action": "new"}
    assert post(city, fmt, **fields, jurisdiction_id="").status_code == 201
    assert_error(post(city, fmt, **fields, jurisdiction_id="sfgov.org"), 404, fmt)


def test_service_request_id_overrides_the_other_filters(city: City) -> None:
    request_id = pothole(city).json()[0]["service_request_id"]
    ignored = {"status": "closed", "service_code": "nope", "start_date": "yesterday"}
    r = city.client.get(
        f"{BASE}/requests.json", params={"service_request_id": request_id, **ignored}
    )
    assert r.status_code == 200, r.text
    assert [x["service_request_id"] for x in r.json()] == [request_id]


def test_xml_answers_carry_the_declaration_and_content_type_the_spec_shows(city: City) -> None:
    for url in ("discovery.xml", "services.xml", "services/road.xml", "requests.xml"):
        r = city.client.get(f"{BASE}/{url}")
        assert r.headers["content-type"] == "text/xml; charset=utf-8"
        assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<')
    r = city.client.get(f"{BASE}/services.json")
    assert r.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("post-answer", [{"service_request_id": "1", "token": "t"}]),  # both: spec says one
        ("requests", [{"service_request_id": "1", "status": "open", "service_code": "road",
                       "service_name": "x", "requested_datetime": "2026-12-01T09:00:00"}]),
        ("requests", [{"service_request_id": "1", "status": "open", "service_code": "road",
                       "service_name": "x", "requested_datetime": "2026-12-01T09:00:00Z",
                       "adress": "typo"}]),
        ("service-definition", {"service_code": "x", "attributes": [
            {"variable": True, "code": "a", "datatype": "singlevaluelist", "required": False,
             "order": 1, "description": "d"}]}),  # a list datatype without values
        ("services", [{"service_code": "x", "service_name": "y", "metadata": "yes",
                       "type": "realtime"}]),
    ],
)  # fmt: skip
def test_the_json_schema_refuses_what_the_spec_does_not_allow(name: str, document: Any) -> None:
    with pytest.raises(AssertionError):
        validate(name, document)
