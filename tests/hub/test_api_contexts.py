"""/jsonldContexts: hosting a user @context and using it by URL, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.hub._http_server import serving
from tests.hub.test_api_entities import BASE, ERR

CONTEXT = {
    "@context": {
        "Bin": "https://cityos.example/ns#WasteContainer",
        "fill": "https://cityos.example/ns#fillingLevel",
    }
}


def test_host_use_list_and_delete_a_context(client: TestClient) -> None:
    r = client.post(f"{BASE}/jsonldContexts", json=CONTEXT)
    assert r.status_code == 201, r.text
    local_id = r.headers["location"].rsplit("/", 1)[1]
    assert r.headers["location"] == f"{BASE}/jsonldContexts/{local_id}"  # a path, as entities
    url = f"http://testserver{BASE}/jsonldContexts/{local_id}"
    assert client.get(f"{BASE}/jsonldContexts/{local_id}").json() == CONTEXT
    details = client.get(f"{BASE}/jsonldContexts/{local_id}", params={"details": "true"}).json()
    assert details["kind"] == "Hosted"
    assert details["URL"] == url

    link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    r = client.post(
        f"{BASE}/entities",
        headers={"Link": link},
        json={"id": "urn:ngsi-ld:Bin:1", "type": "Bin", "fill": 0.7},
    )
    assert r.status_code == 201, r.text
    expanded = client.get(f"{BASE}/entities/urn:ngsi-ld:Bin:1").json()
    assert expanded["type"] == "https://cityos.example/ns#WasteContainer"
    assert expanded["https://cityos.example/ns#fillingLevel"]["value"] == 0.7
    compact = client.get(f"{BASE}/entities/urn:ngsi-ld:Bin:1", headers={"Link": link}).json()
    assert compact["type"] == "Bin"
    assert compact["fill"]["value"] == 0.7

    listed = client.get(f"{BASE}/jsonldContexts").json()
    assert url in listed
    assert any("ngsi-ld-core-context" in u for u in listed)
    hosted = client.get(f"{BASE}/jsonldContexts", params={"kind": "Hosted"}).json()
    assert hosted == [url]

    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204
    assert client.get(f"{BASE}/jsonldContexts/{local_id}").status_code == 404
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 404
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Bin:1").status_code == 204


def test_bad_contexts_are_refused(client: TestClient) -> None:
    r = client.post(f"{BASE}/jsonldContexts", json={"no": "context"})
    assert r.status_code == 400
    assert r.json()["type"] == ERR + "InvalidRequest"  # not a context payload at all
    assert "@context" in r.json()["detail"]
    assert "본문" in r.json()["detail"]
    r = client.post(f"{BASE}/jsonldContexts", json={"@context": 5})
    assert r.status_code == 400
    assert r.json()["type"] == ERR + "BadRequestData"  # a payload with a bad @context
    assert "location" not in r.headers
    r = client.post(f"{BASE}/jsonldContexts", json={"@context": "https://x.example/c"})
    assert r.status_code == 400
    r = client.get(f"{BASE}/jsonldContexts", params={"kind": "Weird"})
    assert r.status_code == 400


def test_an_unreachable_context_is_503_quickly(client: TestClient) -> None:
    link = '<http://127.0.0.1:9/missing.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'
    r = client.get(f"{BASE}/entities", params={"type": "Bin"}, headers={"Link": link})
    assert r.status_code == 503
    assert r.json()["type"] == ERR + "LdContextNotAvailable"


# --- kinds, details, numberOfHits and reload (GS CIM 009 v1.8, 5.13) ---------------------

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
SDM = "https://smart-data-models.github.io/dataModel.Parking/context.jsonld"  # shipped offline


class _ContextServer(BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, object]] = {}

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        document = self.documents.get(self.path)
        body = json.dumps(document or {"error": "gone"}).encode()
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def context_server() -> Iterator[str]:
    """Serve @context documents on 127.0.0.1 (allowed by the test-mode outbound policy)."""
    with serving(_ContextServer) as base:
        yield base


def _link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"'}


def _details(client: TestClient, context_id: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/jsonldContexts/{quote(context_id, safe='')}?details=true")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _listed(client: TestClient, kind: str) -> list[str]:
    r = client.get(f"{BASE}/jsonldContexts", params={"kind": kind})
    assert r.status_code == 200, r.text
    return list(r.json())


def _add(client: TestClient, body: dict[str, Any]) -> tuple[str, str]:
    r = client.post(f"{BASE}/jsonldContexts", json=body)
    assert r.status_code == 201, r.text
    local_id = r.headers["location"].rsplit("/", 1)[1]
    return local_id, f"http://testserver{BASE}/jsonldContexts/{local_id}"


def test_details_and_hits_of_a_hosted_context(client: TestClient) -> None:
    local_id, url = _add(client, CONTEXT)
    details = _details(client, local_id)
    assert set(details) == {"URL", "localId", "kind", "createdAt", "numberOfHits"}
    assert details["URL"] == url
    assert details["localId"] == local_id
    assert details["kind"] == "Hosted"
    assert details["numberOfHits"] == 0
    assert details["createdAt"].endswith("Z")

    entity = {"id": "urn:ngsi-ld:Bin:hits", "type": "Bin", "fill": 0.5}
    assert client.post(f"{BASE}/entities", json=entity, headers=_link(url)).status_code == 201
    details = _details(client, local_id)  # asking by localId for details is not a use
    assert details["numberOfHits"] == 1
    assert details["lastUsage"] >= details["createdAt"]
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Bin:hits", headers=_link(url))
    assert r.json()["type"] == "Bin"
    assert _details(client, local_id)["numberOfHits"] == 2
    assert client.get(f"{BASE}/jsonldContexts/{local_id}").json() == CONTEXT  # serving: a use
    assert _details(client, url)["numberOfHits"] == 3  # by URL: shows the count, then counts
    assert _details(client, local_id)["numberOfHits"] == 4

    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Bin:hits").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204


def test_a_hosted_context_named_through_another_host_is_served_locally(
    client: TestClient,
) -> None:
    local_id, _ = _add(client, CONTEXT)
    alias = f"http://localhost:9/ngsi-ld/v1/jsonldContexts/{local_id}"  # nothing listens on 9
    entity = {"id": "urn:ngsi-ld:Bin:alias", "type": "Bin", "fill": 0.1}
    assert client.post(f"{BASE}/entities", json=entity, headers=_link(alias)).status_code == 201
    stored = client.get(f"{BASE}/entities/urn:ngsi-ld:Bin:alias").json()
    assert stored["type"] == "https://cityos.example/ns#WasteContainer"
    assert _details(client, local_id)["numberOfHits"] == 1  # counted on the hosted entry
    assert alias not in _listed(client, "Cached")  # not a second, fetched copy
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Bin:alias").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204


def test_a_context_used_by_url_becomes_cached(client: TestClient, context_server: str) -> None:
    url = f"{context_server}/cached.jsonld"
    _ContextServer.documents["/cached.jsonld"] = {"@context": {"Kiosk": "urn:x:Kiosk"}}
    assert url not in _listed(client, "Cached")
    entity = {"id": "urn:ngsi-ld:Kiosk:1", "type": "Kiosk"}
    assert client.post(f"{BASE}/entities", json=entity, headers=_link(url)).status_code == 201

    assert url in _listed(client, "Cached")
    assert url not in _listed(client, "Hosted")
    details = _details(client, url)
    assert details["kind"] == "Cached"
    assert details["URL"] == url
    assert details["numberOfHits"] == 1
    body = client.get(f"{BASE}/jsonldContexts/{details['localId']}")
    assert body.headers["content-type"] == "application/json"
    assert body.json() == {"@context": {"Kiosk": "urn:x:Kiosk"}}

    # reload=true fetches it again; the entry is replaced by the new document
    _ContextServer.documents["/cached.jsonld"] = {"@context": {"Kiosk": "urn:y:Kiosk"}}
    r = client.delete(f"{BASE}/jsonldContexts/{details['localId']}", params={"reload": "true"})
    assert r.status_code == 204, r.text
    assert client.get(f"{BASE}/jsonldContexts/{details['localId']}").json() == {
        "@context": {"Kiosk": "urn:y:Kiosk"}
    }
    r = client.post(
        f"{BASE}/entities", json={"id": "urn:ngsi-ld:Kiosk:2", "type": "Kiosk"}, headers=_link(url)
    )
    assert r.status_code == 201
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Kiosk:2").json()["type"] == "urn:y:Kiosk"

    # a reload that fails is a 504 and keeps the cached copy
    del _ContextServer.documents["/cached.jsonld"]
    r = client.delete(f"{BASE}/jsonldContexts/{quote(url, safe='')}", params={"reload": "true"})
    assert r.status_code == 504
    assert r.json()["type"] == ERR + "LdContextNotAvailable"
    assert "유지" in r.json()["detail"]
    assert _details(client, url)["kind"] == "Cached"

    # a plain delete removes it; the next use loads (and records) it anew
    assert client.delete(f"{BASE}/jsonldContexts/{quote(url, safe='')}").status_code == 204
    r = client.get(f"{BASE}/jsonldContexts/{quote(url, safe='')}", params={"details": "true"})
    assert r.status_code == 404
    _ContextServer.documents["/cached.jsonld"] = {"@context": {"Kiosk": "urn:z:Kiosk"}}
    r = client.get(f"{BASE}/entities", params={"type": "Kiosk"}, headers=_link(url))
    assert r.status_code == 200
    assert _details(client, url)["numberOfHits"] == 1
    for n in (1, 2):
        assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Kiosk:{n}").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{quote(url, safe='')}").status_code == 204


def test_an_offline_copy_used_by_url_is_cached_too(client: TestClient) -> None:
    r = client.get(f"{BASE}/entities", params={"type": "ParkingSpot"}, headers=_link(SDM))
    assert r.status_code == 200
    assert SDM in _listed(client, "Cached")
    details = _details(client, SDM)
    assert details["kind"] == "Cached"
    assert details["numberOfHits"] >= 1
    assert client.delete(f"{BASE}/jsonldContexts/{quote(SDM, safe='')}").status_code == 204


def test_a_subscription_keeps_its_inline_context_as_implicitly_created(
    client: TestClient,
) -> None:
    subscription = {
        "id": "urn:ngsi-ld:Subscription:implicit",
        "type": "Subscription",
        "entities": [{"type": "Bin"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        "@context": [SDM, CONTEXT["@context"]],
    }
    r = client.post(
        f"{BASE}/subscriptions",
        content=json.dumps(subscription),
        headers={"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text
    sub = client.get(f"{BASE}/subscriptions/urn:ngsi-ld:Subscription:implicit").json()
    url = sub["jsonldContext"]
    local_id = url.rsplit("/", 1)[1]
    assert url in _listed(client, "ImplicitlyCreated")
    assert SDM in _listed(client, "Cached")  # the URL inside it was loaded
    details = _details(client, local_id)
    assert details["kind"] == "ImplicitlyCreated"
    assert details["numberOfHits"] == 1  # the creating request used it
    assert client.get(f"{BASE}/jsonldContexts/{local_id}").json() == {
        "@context": subscription["@context"]
    }
    # it names the subscription's terms as the inline context did
    entity = {"id": "urn:ngsi-ld:Bin:implicit", "type": "Bin", "fill": 0.2}
    assert client.post(f"{BASE}/entities", json=entity, headers=_link(url)).status_code == 201
    assert _details(client, local_id)["numberOfHits"] == 3  # + the body served above + this

    r = client.delete(f"{BASE}/jsonldContexts/{local_id}", params={"reload": "true"})
    assert r.status_code == 400
    assert r.json()["type"] == ERR + "BadRequestData"
    assert client.delete(f"{BASE}/subscriptions/urn:ngsi-ld:Subscription:implicit").status_code
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Bin:implicit").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{quote(SDM, safe='')}").status_code == 204


def test_a_subscription_with_one_context_url_makes_no_implicit_context(
    client: TestClient,
) -> None:
    before = _listed(client, "ImplicitlyCreated")
    subscription = {
        "id": "urn:ngsi-ld:Subscription:one-url",
        "type": "Subscription",
        "entities": [{"type": "ParkingSpot"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    r = client.post(f"{BASE}/subscriptions", json=subscription, headers=_link(SDM))
    assert r.status_code == 201, r.text
    assert _listed(client, "ImplicitlyCreated") == before
    assert "jsonldContext" not in client.get(f"{BASE}/subscriptions/{subscription['id']}").json()
    assert client.delete(f"{BASE}/subscriptions/{subscription['id']}").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{quote(SDM, safe='')}").status_code == 204


def test_the_core_context_is_listed_and_only_reloaded(client: TestClient) -> None:
    listed = client.get(f"{BASE}/jsonldContexts", params={"details": "true"}).json()
    core = listed[0]
    assert core["kind"] == "Cached"
    assert "ngsi-ld-core-context" in core["URL"]
    assert core["createdAt"].endswith("Z")
    details = _details(client, CORE)
    assert details["kind"] == "Cached"
    body = client.get(f"{BASE}/jsonldContexts/{quote(CORE, safe='')}").json()
    assert body["@context"]["Property"] == "ngsi-ld:Property"
    for reload in (None, "false"):
        params = {} if reload is None else {"reload": reload}
        r = client.delete(f"{BASE}/jsonldContexts/{quote(CORE, safe='')}", params=params)
        assert r.status_code == 400
        assert r.json()["type"] == ERR + "BadRequestData"
        assert "핵심" in r.json()["detail"]
    r = client.delete(f"{BASE}/jsonldContexts/{quote(CORE, safe='')}", params={"reload": "true"})
    assert r.status_code == 204
    assert client.get(f"{BASE}/entities", params={"type": "Bin"}).status_code == 200


def test_bad_parameters_and_unknown_contexts(client: TestClient) -> None:
    local_id, _ = _add(client, CONTEXT)
    cases = [
        ("get", f"{BASE}/jsonldContexts", {"details": "other"}, 400, "BadRequestData"),
        ("get", f"{BASE}/jsonldContexts", {"kind": "other"}, 400, "BadRequestData"),
        ("get", f"{BASE}/jsonldContexts/{local_id}", {"details": "yes"}, 400, "BadRequestData"),
        ("get", f"{BASE}/jsonldContexts/nope", {"details": "true"}, 404, "ResourceNotFound"),
        ("delete", f"{BASE}/jsonldContexts/nope", {}, 404, "ResourceNotFound"),
        ("delete", f"{BASE}/jsonldContexts/nope", {"reload": "false"}, 404, "ResourceNotFound"),
        ("delete", f"{BASE}/jsonldContexts/nope", {"reload": "true"}, 400, "BadRequestData"),
        ("delete", f"{BASE}/jsonldContexts/nope", {"reload": "xxx"}, 400, "BadRequestData"),
        ("delete", f"{BASE}/jsonldContexts/{local_id}", {"reload": "true"}, 400, "BadRequestData"),
    ]
    for method, path, params, status, error in cases:
        r = client.request(method, path, params=params)
        assert (r.status_code, r.json()["type"]) == (status, ERR + error), (path, params)
    assert client.get(f"{BASE}/jsonldContexts/{local_id}").status_code == 200  # still there
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204


def test_a_hosted_context_named_by_its_path_is_resolved_against_the_hub(
    client: TestClient,
) -> None:
    local_id, _ = _add(client, CONTEXT)
    entity = {
        "id": "urn:ngsi-ld:Bin:path",
        "type": "Bin",
        "fill": 0.3,
        "@context": f"{BASE}/jsonldContexts/{local_id}",  # relative: this hub's own context
    }
    r = client.post(
        f"{BASE}/entities",
        content=json.dumps(entity),
        headers={"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text
    stored = client.get(f"{BASE}/entities/urn:ngsi-ld:Bin:path").json()
    assert stored["type"] == "https://cityos.example/ns#WasteContainer"
    assert _details(client, local_id)["numberOfHits"] == 1
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Bin:path").status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}").status_code == 204


def test_hosted_and_implicit_contexts_belong_to_their_tenant(client: TestClient) -> None:
    a, b = {"NGSILD-Tenant": "ctx-tenant-a"}, {"NGSILD-Tenant": "ctx-tenant-b"}
    r = client.post(f"{BASE}/jsonldContexts", json=CONTEXT, headers=a)
    assert r.status_code == 201, r.text
    local_id = r.headers["location"].rsplit("/", 1)[1]
    for params in ({}, {"details": "true"}):
        r = client.get(f"{BASE}/jsonldContexts/{local_id}", params=params, headers=b)
        assert r.status_code == 404
        assert r.json()["type"] == ERR + "ResourceNotFound"
    for params in ({}, {"details": "true"}):
        r = client.get(f"{BASE}/jsonldContexts", params=params, headers=b)
        assert r.status_code == 200
        assert local_id not in r.text
    assert local_id not in client.get(f"{BASE}/jsonldContexts").text  # the default tenant
    assert client.delete(f"{BASE}/jsonldContexts/{local_id}", headers=b).status_code == 404
    assert client.get(f"{BASE}/jsonldContexts/{local_id}", headers=a).json() == CONTEXT

    # a Cached context is a public URL: shared by every tenant
    r = client.get(f"{BASE}/entities", params={"type": "ParkingSpot"}, headers=_link(SDM))
    assert r.status_code == 200
    assert SDM in client.get(f"{BASE}/jsonldContexts", params={"kind": "Cached"}, headers=b).json()

    assert client.delete(f"{BASE}/jsonldContexts/{local_id}", headers=a).status_code == 204
    assert client.delete(f"{BASE}/jsonldContexts/{quote(SDM, safe='')}").status_code == 204
