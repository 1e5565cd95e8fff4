"""/jsonldContexts: hosting a user @context and using it by URL, on both backends."""

from __future__ import annotations

from fastapi.testclient import TestClient

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
    url = r.headers["location"]
    local_id = url.rsplit("/", 1)[1]
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
    assert r.json()["type"] == ERR + "BadRequestData"
    r = client.post(f"{BASE}/jsonldContexts", json={"@context": "https://x.example/c"})
    assert r.status_code == 400
    r = client.get(f"{BASE}/jsonldContexts", params={"kind": "Weird"})
    assert r.status_code == 400


def test_an_unreachable_context_is_503_quickly(client: TestClient) -> None:
    link = '<http://127.0.0.1:9/missing.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'
    r = client.get(f"{BASE}/entities", params={"type": "Bin"}, headers={"Link": link})
    assert r.status_code == 503
    assert r.json()["type"] == ERR + "LdContextNotAvailable"
