"""A failing endpoint is retried after ``notify_retry_initial``, doubling to ``notify_retry_max``.

The settings reach the dispatcher of a real app; a real HTTP receiver refuses (503) and
records when each attempt came in. A retry is due the back-off after the failure, and the
dispatcher starts a round at that time (not at its next 1 s poll), so short back-offs are
kept too.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.hub.subscriptions.dispatcher import backoff
from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"


@pytest.fixture
def rx() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def test_backoff_doubles_from_the_first_wait_up_to_the_most() -> None:
    waits = [backoff(n, 0.2, 1.0) for n in range(1, 6)]
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff(10_000, 0.5, 30.0) == 30.0  # no overflow after days of failures
    assert backoff(1) == 0.5  # the defaults are the settings' defaults
    assert backoff(9) == 30.0


def test_a_first_wait_longer_than_the_most_is_refused() -> None:
    with pytest.raises(ValueError, match="NOTIFY_RETRY_INITIAL") as error:  # SettingsError
        Settings(mode="test", notify_retry_initial=10, notify_retry_max=5)
    assert "재시도" in str(error.value)


def attempt_gaps(settings: Settings, rx: Receiver, attempts: int) -> list[float]:
    """Return the seconds between the refused attempts of one notification, then accept it."""
    etype = f"T{uuid.uuid4().hex[:8]}"
    rx.status = 503
    with TestClient(create_app(settings)) as client:
        sub = {
            "type": "Subscription",
            "entities": [{"type": etype}],
            "notification": {"endpoint": {"uri": rx.url}, "format": "keyValues"},
        }
        r = client.post(f"{HUB}/subscriptions", json=sub)
        assert r.status_code == 201, r.text
        sub_id = r.headers["location"].rsplit("/", 1)[1]
        body = {
            "id": f"urn:ngsi-ld:{etype}:1",
            "type": etype,
            "a": {"type": "Property", "value": 1},
        }
        assert client.post(f"{HUB}/entities", json=body).status_code == 201
        got = rx.wait_for_attempts(attempts, timeout=30)
        rx.status = 204
        times = [t for t, s in got if s == sub_id][:attempts]
        assert len(times) == attempts, f"{len(times)} of {attempts} attempts came in"
        delivered = rx.wait_for(1, timeout=30)
        assert [n["subscriptionId"] for n in delivered] == [sub_id]  # delivered once accepted
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_the_first_retry_waits_notify_retry_initial(settings: Settings, rx: Receiver) -> None:
    slow = settings.model_copy(update={"notify_retry_initial": 1.2, "notify_retry_max": 1.2})
    gaps = attempt_gaps(slow, rx, 3)
    # the defaults (0.5 s, then 1 s) would retry sooner
    assert min(gaps) >= 1.2, gaps


def test_short_retries_do_not_wait_for_the_poll(settings: Settings, rx: Receiver) -> None:
    quick = settings.model_copy(update={"notify_retry_initial": 0.05, "notify_retry_max": 0.1})
    gaps = attempt_gaps(quick, rx, 6)
    assert min(gaps) >= 0.05, gaps
    # a retry waiting for the dispatcher's 1 s poll instead would make every gap about 1 s
    assert statistics.median(gaps) < 0.6, gaps
