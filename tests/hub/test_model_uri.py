"""is_uri's ASCII pattern accepts exactly what the general pattern accepts on ASCII text."""

from __future__ import annotations

import pytest

from cityos.hub.model import _URI, _URI_ASCII, is_uri

ASCII = [chr(i) for i in range(128)]


@pytest.mark.parametrize(
    "template",
    ["a:{c}", "a:b{c}", "a:b{c}c", "{c}:b", "a{c}:b", "a:b{c}\n", "urn:ngsi-ld:T:{c}1", "{c}"],
)
def test_ascii_pattern_agrees_with_the_general_one(template: str) -> None:
    for char in ASCII:
        text = template.format(c=char)
        assert bool(_URI_ASCII.match(text)) == bool(_URI.match(text)), repr(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:ngsi-ld:Vehicle:A1", True),
        ("https://example.org/a?b=c#d", True),
        ("urn:x\n", True),  # ``$`` also matches before a final newline, as it always did
        ("urn:x\n\n", False),
        ("urn:a b", False),
        ("urn:a\x1fb", False),  # \x1f is whitespace to str.isspace and to ``\s``
        ("urn:a\x01b", True),  # a control character that is not whitespace
        ("urn:", False),
        ("1urn:x", False),
        ("urn:세종", True),
        ("urn:a\u200bb", False),  # zero-width space: invisible, refused
        ("urn:a\u3000b", False),  # ideographic space: whitespace
        (42, False),
    ],
)
def test_is_uri(value: object, expected: bool) -> None:
    assert is_uri(value) is expected
