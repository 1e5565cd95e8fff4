"""A request's remote @context is fetched by the server on the caller's say-so: internal
addresses are refused (SSRF), redirects included, unless the allow-list names them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from cityos.config import Settings
from cityos.hub.context import ContextResolver
from cityos.hub.errors import LdContextNotAvailable
from tests.hub._http_server import serving

PRODUCTION = {"mode": "production", "secret_key": "s" * 40}


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - one test server per module

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.hits.append(self.path)
        if self.path == "/ctx.jsonld":
            body = json.dumps({"@context": {"Tram": "https://sejong.example/Tram"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:  # /hop: a redirect to another loopback address
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{port}/ctx.jsonld")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as base:
        yield base


def test_a_loopback_context_is_refused_in_production_before_any_request(server: str) -> None:
    before = len(_Handler.hits)
    with ContextResolver(Settings(**PRODUCTION), failure_ttl=0) as resolver:  # type: ignore[arg-type]
        with pytest.raises(LdContextNotAvailable, match="loopback") as refused:
            resolver.resolve(f"{server}/ctx.jsonld")
        with pytest.raises(LdContextNotAvailable, match="link-local"):
            resolver.resolve("http://169.254.169.254/latest/meta-data/ctx.jsonld")
    assert " / " in refused.value.detail  # English / 한국어
    assert len(_Handler.hits) == before  # nothing was sent


def test_a_redirect_to_an_address_outside_the_allow_list_is_refused(server: str) -> None:
    settings = Settings(**PRODUCTION, outbound_allow=["127.0.0.1/32"])  # type: ignore[arg-type]
    with ContextResolver(settings, failure_ttl=0) as resolver:
        ctx = resolver.resolve(f"{server}/ctx.jsonld")  # allowed by the list
        assert ctx.expand_type("Tram") == "https://sejong.example/Tram"
        with pytest.raises(LdContextNotAvailable, match="127.0.0.2"):
            resolver.resolve(f"{server}/hop.jsonld")
    assert _Handler.hits[-1] == "/hop.jsonld"  # the redirect target was never asked


def test_test_mode_fetches_from_loopback(server: str) -> None:
    with ContextResolver(Settings(mode="test"), failure_ttl=0) as resolver:
        ctx = resolver.resolve(f"{server}/ctx.jsonld")
    assert ctx.expand_type("Tram") == "https://sejong.example/Tram"
