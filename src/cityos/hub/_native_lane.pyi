from collections.abc import Callable
from typing import Any

def entity_rows(
    body: bytes,
    now: str,
    stamp_us: int,
    ctx: Any,
    names: dict[str, str],
    types: dict[str, str],
    times: set[str],
    helpers: tuple[Any, ...],
    text_micros: Callable[[str], int],
    seen: dict[str, int],
    max_span: int,
    cells: tuple[float, float, int],
    history: bool,
    exists: Callable[[list[str]], bool],
) -> (
    tuple[list[tuple[Any, ...]], list[tuple[tuple[tuple[str, str], ...], tuple[str, ...]]]] | Any
): ...
