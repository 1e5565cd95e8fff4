"""One resident, one vote, held by the database: concurrent ballots, and the schema itself.

On both backends: several threads cast the same resident's ballot at the same instant (each
with its own connection and transaction); exactly one is stored, the others get 409; a
duplicate row written past the service is refused by the unique constraint. Migration
0009_civic goes down and up again.
"""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cityos import db
from cityos.config import Settings
from cityos.governance.civic.errors import AlreadyDone
from cityos.governance.civic.models import metadata, poll_ballots, poll_voters
from cityos.governance.polls import service
from cityos.governance.polls.schemas import PollCreate
from cityos.privacy.crypto import Vault
from tests.governance._civic import (  # noqa: F401 - fixtures
    Clock,
    People,
    api,
    civic_settings,
    clock,
    engine,
    people,
)

THREADS = 8


def new_poll(engine: Engine, people: People, clock: Clock) -> str:
    body = PollCreate.model_validate(
        {
            "title_ko": "동시 투표 시험",
            "title_en": "Concurrent vote test",
            "options": [
                {"label_ko": "예", "label_en": "Yes"},
                {"label_ko": "아니오", "label_en": "No"},
            ],
            "closes_at": (clock() + timedelta(minutes=5)).isoformat(),
        }
    )
    with engine.begin() as connection:
        poll = service.create_poll(
            connection, body=body, creator=people.operator.principal, now=clock()
        )
    return poll.id


def rows(engine: Engine, poll_id: str) -> tuple[int, int]:
    with engine.connect() as c:
        voters = c.execute(
            sa.select(sa.func.count()).where(poll_voters.c.poll_id == poll_id)
        ).scalar_one()
        ballots = c.execute(
            sa.select(sa.func.count()).where(poll_ballots.c.poll_id == poll_id)
        ).scalar_one()
    return voters, ballots


def test_concurrent_votes_of_one_resident_leave_exactly_one(
    api: TestClient, engine: Engine, people: People, clock: Clock, civic_settings: Settings
) -> None:
    poll_id = new_poll(engine, people, clock)
    voter = people.resident()
    vault = Vault.from_settings(civic_settings)
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def cast(choice: int) -> None:
        barrier.wait()
        try:
            service.record_vote(
                engine,
                poll_id=poll_id,
                principal=voter.principal,
                choices=[choice],
                vault=vault,
                now=clock(),
            )
            outcome = "stored"
        except AlreadyDone:
            outcome = "refused"
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=cast, args=(1 + i % 2,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * (THREADS - 1) + ["stored"], outcomes
    assert rows(engine, poll_id) == (1, 1)


def test_concurrent_votes_through_the_api_give_one_201_and_409s(
    api: TestClient, engine: Engine, people: People, clock: Clock
) -> None:
    poll_id = new_poll(engine, people, clock)
    voter = people.resident()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def post() -> None:
        barrier.wait()
        r = api.post(f"/api/v1/polls/{poll_id}/votes", json={"choices": [1]}, headers=voter.headers)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert rows(engine, poll_id) == (1, 1)


def _vote_in_a_process(
    database_url: str, poll_id: str, principal: object, barrier: Any, out: Any
) -> None:
    """Child process: its own engine, wait for the other, cast the same person's ballot."""
    from datetime import UTC, datetime

    from cityos.config import Settings as ChildSettings
    from cityos.db import make_engine

    settings = ChildSettings(database_url=database_url, mode="test", log_level="warning")
    child_engine = make_engine(settings)
    try:
        barrier.wait(timeout=60)
        service.record_vote(
            child_engine,
            poll_id=poll_id,
            principal=principal,  # type: ignore[arg-type]
            choices=[1],
            vault=Vault.from_settings(settings),
            now=datetime.now(UTC),
        )
        out.put("stored")
    except AlreadyDone:
        out.put("refused")
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
        out.put(f"error: {exc!r}")
    finally:
        child_engine.dispose()


def test_two_processes_voting_as_one_resident_leave_exactly_one(
    api: TestClient, engine: Engine, people: People, clock: Clock, civic_settings: Settings
) -> None:
    poll_id = new_poll(engine, people, clock)
    voter = people.resident()
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(2), context.Queue()
    url = civic_settings.database_url
    workers = [
        context.Process(
            target=_vote_in_a_process, args=(url, poll_id, voter.principal, barrier, out)
        )
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    outcomes = sorted(out.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(timeout=30)
    assert outcomes == ["refused", "stored"]
    assert rows(engine, poll_id) == (1, 1)


def test_the_unique_constraint_refuses_a_second_voter_row_written_directly(
    api: TestClient, engine: Engine, people: People, clock: Clock
) -> None:
    poll_id = new_poll(engine, people, clock)
    with engine.begin() as c:
        c.execute(sa.insert(poll_voters).values(poll_id=poll_id, voter="a" * 64))
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(sa.insert(poll_voters).values(poll_id=poll_id, voter="a" * 64))
    assert rows(engine, poll_id) == (1, 0)


def test_the_tables_match_the_models_and_0009_goes_down_and_up(
    api: TestClient, engine: Engine, civic_settings: Settings
) -> None:
    inspector = sa.inspect(engine)
    for table in metadata.tables.values():
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    uniques = {u["name"] for u in inspector.get_unique_constraints("governance_poll_voters")} | {
        u["name"] for u in inspector.get_unique_constraints("governance_proposal_supports")
    }
    assert {"uq_governance_poll_voters_one_vote", "uq_governance_proposal_supports_one"} <= uniques
    with engine.begin() as connection:
        config = db._alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0008_complaints")
    assert not sa.inspect(engine).has_table("governance_polls")
    assert sa.inspect(engine).has_table("identity_users")
    assert db.upgrade(civic_settings) == db.head_revision()
    assert sa.inspect(engine).has_table("governance_comment_reports")


@pytest.mark.backend("sqlite")  # PostgreSQL writers wait on row locks; SQLite locks the file
def test_a_sqlite_lock_held_too_long_is_a_503_and_saves_nothing(
    api: TestClient, engine: Engine, people: People, clock: Clock, civic_settings: Settings
) -> None:
    """SQLite lets one writer at a time; past the wait the vote is refused (503), not a 500."""
    assert engine.dialect.name == "sqlite"
    from cityos.governance.civic.errors import Busy

    poll_id = new_poll(engine, people, clock)
    voter = people.resident()
    impatient = sa.create_engine(engine.url, connect_args={"timeout": 0.2})
    holder = engine.raw_connection()
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(Busy) as refused:
            service.record_vote(
                impatient,
                poll_id=poll_id,
                principal=voter.principal,
                choices=[1],
                vault=Vault.from_settings(civic_settings),
                now=clock(),
            )
        assert refused.value.status == 503
        assert refused.value.headers["Retry-After"] == "1"
        assert refused.value.detail_ko
    finally:
        holder.rollback()
        holder.close()
        impatient.dispose()
    assert rows(engine, poll_id) == (0, 0)
