"""Tests for fetching remote @contexts from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from cityos.config import Settings
from cityos.hub.context import ContextResolver
from cityos.hub.errors import LdContextNotAvailable
from tests.hub._http_server import serving

TIMEOUT = 1.0  # [s] fetch timeout used by these tests (loopback fetches take ms; a busy
# shared machine can still stall one for a few hundred ms)
SLACK = 1.0  # [s] allowed on top of the timeout


class _Handler(BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()
    documents: dict[str, object] = {}

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        self.hits[self.path] += 1
        if self.path == "/slow.jsonld":
            time.sleep(TIMEOUT * 3)
        if self.path == "/text":
            self._send(200, b"<html>not json</html>", "text/html")
        elif self.path in self.documents:
            self._send(200, json.dumps(self.documents[self.path]).encode(), "application/ld+json")
        else:
            self._send(404, b'{"error": "not found"}', "application/json")

    def _send(self, status: int, body: bytes, media: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the slow endpoint)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as base:
        _Handler.documents = {
            "/ctx.jsonld": {"@context": {"Tram": "https://sejong.example/Tram"}},
            "/slow.jsonld": {"@context": {}},
            "/nested.jsonld": {
                "@context": [f"{base}/ctx.jsonld", {"line": "https://sejong.example/line"}]
            },
            "/cycle-a.jsonld": {"@context": [f"{base}/cycle-b.jsonld"]},
            "/cycle-b.jsonld": {"@context": [f"{base}/cycle-a.jsonld"]},
            "/nocontext.jsonld": {"Tram": "https://sejong.example/Tram"},
            "/badterm.jsonld": {"@context": {"Tram": 5}},
            "/counted.jsonld": {"@context": {"Bus": "https://sejong.example/Bus"}},
            **{
                f"/chain-{i}.jsonld": {"@context": [f"{base}/chain-{i + 1}.jsonld"]}
                for i in range(12)
            },
        }
        yield base


@pytest.fixture
def resolver() -> Iterator[ContextResolver]:
    with ContextResolver(Settings(mode="test"), fetch_timeout=TIMEOUT, failure_ttl=0) as r:
        yield r


def test_remote_context_is_fetched(server: str, resolver: ContextResolver) -> None:
    ctx = resolver.resolve(f"{server}/ctx.jsonld")
    assert ctx.expand_type("Tram") == "https://sejong.example/Tram"
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


def test_nested_remote_contexts(server: str, resolver: ContextResolver) -> None:
    ctx = resolver.resolve([{"x": "urn:x"}, f"{server}/nested.jsonld"])
    assert ctx.expand("Tram") == "https://sejong.example/Tram"
    assert ctx.expand("line") == "https://sejong.example/line"
    assert ctx.expand("x") == "urn:x"


def test_slow_server_fails_within_the_timeout(server: str, resolver: ContextResolver) -> None:
    started = time.monotonic()
    with pytest.raises(LdContextNotAvailable, match="slow.jsonld"):
        resolver.resolve(f"{server}/slow.jsonld")
    assert time.monotonic() - started < TIMEOUT + SLACK


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/missing.jsonld", "HTTP 404"),
        ("/text", "not JSON"),
        ("/nocontext.jsonld", "no @context"),
        ("/badterm.jsonld", "not a valid JSON-LD context"),
        ("/cycle-a.jsonld", "recursive context inclusion"),
        ("/chain-0.jsonld", "context overflow"),
    ],
)
def test_unusable_remote_context_is_not_available(
    server: str, resolver: ContextResolver, path: str, why: str
) -> None:
    with pytest.raises(LdContextNotAvailable, match=why) as caught:
        resolver.resolve(f"{server}{path}")
    assert server in caught.value.detail
    assert caught.value.status == 503


def test_unreachable_host_fails_quickly(resolver: ContextResolver) -> None:
    started = time.monotonic()
    with pytest.raises(LdContextNotAvailable, match="127.0.0.1:9"):
        resolver.resolve("http://127.0.0.1:9/ctx.jsonld")  # the discard port: refused
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_remote_documents_are_cached(server: str, resolver: ContextResolver) -> None:
    url = f"{server}/counted.jsonld"
    before = _Handler.hits["/counted.jsonld"]
    first = resolver.resolve(url)
    assert resolver.resolve(url) is first
    resolver.resolve([url, {"y": "urn:y"}])  # a new active context, the same document
    assert _Handler.hits["/counted.jsonld"] - before == 1
    resolver.clear()
    assert resolver.resolve(url) is not first
    assert _Handler.hits["/counted.jsonld"] - before == 2


def test_failures_are_remembered_briefly(server: str) -> None:
    url = f"{server}/missing-counted.jsonld"
    with ContextResolver(Settings(mode="test"), fetch_timeout=TIMEOUT, failure_ttl=60) as r:
        for _ in range(3):
            with pytest.raises(LdContextNotAvailable, match="404"):
                r.resolve(url)
    assert _Handler.hits["/missing-counted.jsonld"] == 1


def test_remote_cache_is_bounded(server: str) -> None:
    with ContextResolver(
        Settings(mode="test"), fetch_timeout=TIMEOUT, remote_cache_size=1, cache_size=1
    ) as r:
        before = _Handler.hits["/counted.jsonld"]
        r.resolve(f"{server}/counted.jsonld")
        r.resolve(f"{server}/ctx.jsonld")  # evicts counted.jsonld
        r.resolve(f"{server}/counted.jsonld")
        assert _Handler.hits["/counted.jsonld"] - before == 2


def test_stored_context_wins_over_the_network(server: str, resolver: ContextResolver) -> None:
    url = f"{server}/ctx.jsonld"
    resolver.add_stored(url, {"@context": {"Tram": "https://elsewhere.example/Tram"}})
    assert resolver.resolve(url).expand("Tram") == "https://elsewhere.example/Tram"


def test_network_can_be_disabled(server: str) -> None:
    with (
        ContextResolver(Settings(mode="test"), allow_network=False) as r,
        pytest.raises(LdContextNotAvailable, match="network disabled"),
    ):
        r.resolve(f"{server}/ctx.jsonld")


def test_only_http_urls_are_fetched(resolver: ContextResolver) -> None:
    with pytest.raises(LdContextNotAvailable, match="file:///etc/passwd"):
        resolver.resolve("file:///etc/passwd")
