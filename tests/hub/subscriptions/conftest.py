"""Fixtures shared by the subscription tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub.subscriptions.receiver import Receiver


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    """A real HTTP receiver for one module's notifications (tests tell theirs apart by
    subscription id). Modules that need a fresh one per test, a slow one or one per backend
    define their own ``rx``."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()
