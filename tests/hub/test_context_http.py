"""Tests for the Link header and content-type rules of GS CIM 009 6.3.5."""

from __future__ import annotations

import pytest

from cityos.hub.context import context_from_request, contexts_from_batch, parse_link_header
from cityos.hub.errors import BadRequestData, UnsupportedMediaType

URL = "https://example.org/ctx.jsonld"
REL = 'rel="http://www.w3.org/ns/json-ld#context"'
LINK = f'<{URL}>; {REL}; type="application/ld+json"'


@pytest.mark.parametrize(
    "header",
    [
        LINK,
        f"<{URL}>;{REL}",
        f"<{URL}> ; rel=http://www.w3.org/ns/json-ld#context",
        f'<{URL}>; rel="alternate http://www.w3.org/ns/json-ld#context"',
        f'<https://example.org/page?a=1,b=2>; rel="next", {LINK}',
        f'{LINK}, <https://example.org/x>; rel="describedby"; title="a, b; c"',
    ],
)
def test_parse_link_header_finds_the_context(header: str) -> None:
    assert parse_link_header(header) == URL


@pytest.mark.parametrize("header", ["", '<https://example.org/x>; rel="next"', " , "])
def test_parse_link_header_without_context_link(header: str) -> None:
    assert parse_link_header(header) is None


@pytest.mark.parametrize(
    "header",
    [
        f"{URL}; {REL}",  # no <…>
        f"<{URL}; {REL}",  # unterminated <
        f'<{URL}>; rel="http://www.w3.org/ns/json-ld#context',  # unterminated quote
        f"{LINK}, <https://example.org/other.jsonld>; {REL}",  # two context links
        f"<relative/ctx.jsonld>; {REL}",
    ],
)
def test_parse_link_header_rejects_malformed_values(header: str) -> None:
    with pytest.raises(BadRequestData):
        parse_link_header(header)


def test_get_takes_the_link_header() -> None:
    assert context_from_request(None, LINK, None) == URL
    assert context_from_request(None, None, None) is None


@pytest.mark.parametrize("media", ["application/json", "application/json; charset=utf-8", None])
def test_json_takes_the_link_header(media: str | None) -> None:
    assert context_from_request(media, LINK, {"id": "urn:a", "type": "T"}) == URL
    assert context_from_request(media, None, {"id": "urn:a", "type": "T"}) is None


def test_merge_patch_is_json() -> None:
    assert context_from_request("application/merge-patch+json", LINK, {"a": 1}) == URL


def test_json_body_must_not_carry_a_context() -> None:
    with pytest.raises(BadRequestData, match="must not contain @context"):
        context_from_request("application/json", None, {"id": "urn:a", "@context": URL})


def test_json_ld_takes_the_body_context() -> None:
    body = {"id": "urn:a", "type": "T", "@context": [URL, {"a": "urn:a"}]}
    assert context_from_request("application/ld+json", None, body) == [URL, {"a": "urn:a"}]


def test_json_ld_with_a_link_header_is_refused() -> None:
    with pytest.raises(BadRequestData, match="not in a Link header"):
        context_from_request("application/ld+json", LINK, {"id": "urn:a", "@context": URL})


def test_json_ld_without_a_body_context_is_refused() -> None:
    with pytest.raises(BadRequestData, match="must contain an @context"):
        context_from_request("application/ld+json", None, {"id": "urn:a"})


def test_json_ld_ignores_unrelated_links() -> None:
    body = {"@context": URL}
    assert context_from_request("application/ld+json", '<https://x.org/>; rel="next"', body) == URL


def test_other_media_types_are_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        context_from_request("text/plain", None, {"a": 1})


def test_batches_have_one_context_per_entity() -> None:
    body = [{"id": "urn:a", "@context": URL}, {"id": "urn:b", "@context": {"b": "urn:b"}}]
    assert contexts_from_batch("application/ld+json", None, body) == [URL, {"b": "urn:b"}]
    assert contexts_from_batch("application/json", LINK, [{"id": "urn:a"}]) == [URL]
    with pytest.raises(BadRequestData):
        contexts_from_batch("application/ld+json", None, [{"id": "urn:a", "@context": URL}, {}])
    with pytest.raises(TypeError):
        context_from_request("application/ld+json", None, body)  # type: ignore[arg-type]
