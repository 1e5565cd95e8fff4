"""Type stub of the C extension ``cityos.hub._native_expand`` (``_native_expand.c``)."""

from types import NotImplementedType
from typing import Any

def expand_entity(
    body: object,
    now: str,
    ctx: Any,
    names: dict[str, str],
    types: dict[str, str],
    times: set[str],
    helpers: tuple[Any, ...],
    shapes: list[object],
    /,
) -> dict[str, Any] | NotImplementedType:
    """Return the entity ``batch._prepare`` makes of ``body``, or NotImplemented."""
