"""Retention per kind of personal data and k-anonymous open-data statistics, on both backends,
each checked against a hand computation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.config import DEFAULT_RETENTION_DAYS, Settings
from cityos.identity import consent
from cityos.identity.models import audit_log
from cityos.privacy import store
from cityos.privacy.crypto import Vault
from cityos.privacy.models import records
from cityos.privacy.open_data import people_per_cell
from cityos.privacy.retention import purge_expired
from cityos.privacy.stats import k_anonymous_counts
from tests.privacy.conftest import NOW, make_citizen

WALK, HEALTH, CONTACT = "walking_rewards", "personalised_health", "contact"


def _put(
    engine: Engine,
    settings: Settings,
    user_id: str,
    kind: str,
    purpose: str,
    age: timedelta,
    data: dict,  # type: ignore[type-arg]
) -> str:
    with store.transaction(engine) as connection:
        return store.put(
            connection, vault=Vault.from_settings(settings), settings=settings, user_id=user_id,
            kind=kind, purpose=purpose, data=data, actor="system", now=NOW,
            recorded_at=NOW - age,
        )  # fmt: skip


def test_retention_erases_each_kind_after_its_own_period(
    engine: Engine, settings: Settings
) -> None:
    days = Settings(retention_days={"steps": 30, "location": 1}).retention_days
    short = settings.model_copy(update={"retention_days": days})
    who = make_citizen(engine, WALK, HEALTH, CONTACT, can_log_in=False)
    plan = [  # kind, purpose, age, kept?  (steps 30 d, location 1 d, health 1825 d, contact 1095 d)
        ("steps", WALK, timedelta(days=29, hours=23), True),
        ("steps", WALK, timedelta(days=30, seconds=1), False),
        ("location", WALK, timedelta(hours=23), True),
        ("location", WALK, timedelta(hours=25), False),
        ("health", HEALTH, timedelta(days=1824), True),
        ("health", HEALTH, timedelta(days=1826), False),
        ("contact", CONTACT, timedelta(days=10), True),
    ]
    ids = {
        _put(engine, short, who.id, k, p, age, {"n": n}): kept
        for n, (k, p, age, kept) in enumerate(plan)
    }
    with engine.begin() as connection:  # a record of a kind no setting names (e.g. dropped)
        connection.execute(
            sa.insert(records).values(
                id=str(uuid.uuid4()), subject="0" * 64, kind="legacy", purpose=WALK,
                recorded_at=NOW, created_at=NOW, created_by="test", key_id="s0", payload="s0:x",
            )
        )  # fmt: skip
    erased = purge_expired(engine, settings=short, now=NOW)
    assert erased == {"steps": 1, "location": 1, "health": 1, "(no retention period)": 1}
    with engine.connect() as connection:
        left = set(connection.execute(sa.select(records.c.id)).scalars())
        entry = connection.execute(
            sa.select(audit_log).where(audit_log.c.action == "personal_data_purged")
        ).one()
    assert {i for i, kept in ids.items() if kept} <= left
    assert not {i for i, kept in ids.items() if not kept} & left
    assert entry.actor == "system"
    assert entry.subject is None
    assert entry.detail["erased"] == erased
    assert purge_expired(engine, settings=short, now=NOW) == {}  # idempotent, no new entry


def test_retention_settings_merge_over_the_defaults_and_refuse_nonsense() -> None:
    merged = Settings(retention_days={"steps": 30, "heart_rate": 365}).retention_days
    assert merged == DEFAULT_RETENTION_DAYS | {"steps": 30, "heart_rate": 365}
    for bad in ({"steps": 0}, {"steps": 40000}, {"Bad Kind": 3}):
        with pytest.raises(ValueError, match="CITYOS_RETENTION_DAYS"):
            Settings(retention_days=bad)


def test_k_anonymous_counts_match_a_hand_count() -> None:
    # cell A: p1..p6 (p1 twice) -> 6 people; B: p1, p7..p10 -> 5; C: p11..p14 -> 4 (< 5).
    pairs = [("A", f"p{n}") for n in range(1, 7)] + [("A", "p1")]
    pairs += [("B", "p1")] + [("B", f"p{n}") for n in range(7, 11)]
    pairs += [("C", f"p{n}") for n in range(11, 15)]
    result = k_anonymous_counts(pairs)
    assert result.counts == {"A": 6, "B": 5}
    assert result.suppressed == {"C"}
    assert k_anonymous_counts(pairs, k=6).counts == {"A": 6}
    with pytest.raises(ValueError, match="at least 5"):
        k_anonymous_counts(pairs, k=4)


def test_open_data_statistics_count_consenting_people_audit_each_and_suppress_small_cells(
    engine: Engine, settings: Settings
) -> None:
    # Districts of the walkers: 한솔동 6 people, 도담동 5, 조치원읍 4 (suppressed), and one
    # more 도담동 walker who withdrew consent (must not be counted: would make 6).
    plan = {"한솔동": 6, "도담동": 5, "조치원읍": 4}
    people = {
        d: [make_citizen(engine, WALK, can_log_in=False) for _ in range(n)] for d, n in plan.items()
    }
    for district, walkers in people.items():
        for walker in walkers:
            for day in range(2):  # two records each: a person counts once per cell
                _put(
                    engine,
                    settings,
                    walker.id,
                    "steps",
                    WALK,
                    timedelta(days=day),
                    {"district": district, "steps": 5000},
                )
    withdrawn = make_citizen(engine, WALK, can_log_in=False)
    _put(engine, settings, withdrawn.id, "steps", WALK, timedelta(0), {"district": "도담동"})
    with engine.begin() as connection:
        consent.withdraw(connection, user_id=withdrawn.id, purpose=WALK, now=NOW)
    with engine.begin() as connection:
        result = people_per_cell(
            connection, vault=Vault.from_settings(settings), kind="steps", purpose=WALK,
            cell=lambda record: record.data.get("district"), actor="user:open-data-desk",
            reason="weekly walking statistics", now=NOW, since=NOW - timedelta(days=7),
        )  # fmt: skip
    assert result.counts == {"한솔동": 6, "도담동": 5}
    assert result.suppressed == {"조치원읍"}
    with engine.connect() as connection:
        reads = connection.execute(
            sa.select(audit_log.c.subject, audit_log.c.detail).where(
                audit_log.c.action == store.READ, audit_log.c.actor == "user:open-data-desk"
            )
        ).all()
    everyone = {w.id for walkers in people.values() for w in walkers}
    assert {subject for subject, _ in reads} == everyone  # one entry per citizen read
    assert len(reads) == len(everyone)
    assert withdrawn.id not in {s for s, _ in reads}
    assert all(detail["records"] == 2 and detail["statistics"] for _, detail in reads)
