from collections.abc import Callable
from typing import Any

def elements(
    attrs: dict[str, list[dict[str, Any]]],
    stamp: str,
    stamp_us: int,
    created: bool,
    seen: dict[str, int],
    text_micros: Callable[[str], int],
) -> tuple[list[Any], bool, int, int] | None: ...
def change_json(
    attrs: dict[str, list[dict[str, Any]]],
    attrs_json: bytes,
    stamp: str,
    stamp_us: int,
    created: bool,
    seen: dict[str, int],
    text_micros: Callable[[str], int],
) -> tuple[bytearray, bool, int, int, list[tuple[str, Any]] | None] | None: ...
