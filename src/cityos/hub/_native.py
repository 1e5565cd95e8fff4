"""The hub's optional C extensions (``setup.py``) and the switch that turns them off.

Each extension does, for the common shape of a batch's entities, exactly what a Python
function beside it does, and answers ``NotImplemented`` for anything else, so the Python
function stays the reference: the tests run both on the same inputs and compare. An
extension that was not built (no C compiler at install time) is simply absent and the
Python path runs; ``CITYOS_NATIVE=0`` in the environment turns every extension off (for
measuring one path against the other, and for the tests of the Python path). With
``CI=true`` the tests require every extension to be present.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

# the extensions setup.py builds (module names under cityos.hub)
NAMES = ("_native_expand", "_native_history", "_native_lane")


def enabled() -> bool:
    """Return False when ``CITYOS_NATIVE=0`` (or ``false``/``off``/``no``) turns them off."""
    return os.environ.get("CITYOS_NATIVE", "1").strip().lower() not in ("0", "false", "off", "no")


def load(name: str) -> ModuleType | None:
    """Return the extension ``cityos.hub.<name>``, or None when it is off or not built."""
    if not enabled():
        return None
    try:
        return importlib.import_module(f"cityos.hub.{name}")
    except ImportError:
        return None
