"""Open311 GeoReport v2 representations: the same documents as JSON or XML.

The XML follows the spec's examples: a root element (``services``, ``service_requests``,
``service_definition``, ``discovery``, ``errors``), one child per list item (``service``,
``request``, ``error``), nested lists named in :data:`ITEM_NAMES`, booleans as ``true`` /
``false``, a missing value as an empty element. Both are UTF-8 with the declaration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from starlette.responses import Response

FORMATS = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
ITEM_NAMES = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "services": "service",
    "service_requests": "request",
    "errors": "error",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        item = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, document: Any) -> bytes:
    """Return ``document`` (a dict or a list) as an Open311 XML document under ``root``."""
    element = ET.Element(root)
    _fill(element, document)
    # The declaration as the spec writes it (double quotes), which naive clients match on.
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").encode("utf-8")


def respond(fmt: str, root: str, document: Any, *, status: int = 200) -> Response:
    """Return ``document`` as JSON or as XML under ``root`` (``fmt`` is ``json`` or ``xml``)."""
    if fmt == "xml":
        return Response(to_xml(root, document), status_code=status, media_type=MEDIA_TYPES["xml"])
    return Response(orjson.dumps(document), status_code=status, media_type=MEDIA_TYPES["json"])


def error_list(
    fmt: str, status: int, description: str, headers: dict[str, str] | None = None
) -> Response:
    """Return an Open311 error list with one error."""
    response = respond(fmt, "errors", [{"code": status, "description": description}], status=status)
    if headers:
        response.headers.update(headers)
    return response
