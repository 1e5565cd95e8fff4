"""Whole numbers given as request parameters (a URL's text or a JSON body's number)."""

from __future__ import annotations

import re
from typing import Any

_DIGITS = re.compile(r"\d{1,9}")


def whole_number(value: Any) -> int | None:
    """Return ``value`` as an integer — a JSON integer (not a boolean), as given, or text of
    1 to 9 decimal digits — or None when it is anything else. Callers check the range."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None
