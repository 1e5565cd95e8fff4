"""One support per resident under concurrency, and one move to review at the threshold.

On both backends: threads supporting as the same resident leave one support; threads of
different residents crossing the threshold together count every support and move the
proposal to review exactly once (one response record).
"""

# ruff: noqa: F811 - the fixtures are imported from tests.governance._civic

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.governance.civic.errors import AlreadyDone
from cityos.governance.civic.models import proposal_responses, proposal_supports, proposals
from cityos.governance.proposals import service
from cityos.governance.proposals.schemas import ProposalCreate
from cityos.privacy.crypto import Vault
from tests.governance._civic import (  # noqa: F401 - fixtures
    BORAM_POINT,
    Clock,
    People,
    api,
    civic_settings,
    clock,
    engine,
    people,
)


def new_proposal(engine: Engine, people: People, clock: Clock, settings: Settings) -> str:
    body = ProposalCreate.model_validate(
        {
            "title": "도담동 버스정류장 그늘막",
            "description": "정류장에 그늘이 없어 여름에 기다리기 힘듭니다.",
            "location": {"type": "Point", "coordinates": BORAM_POINT},
        }
    )
    with engine.begin() as c:
        return service.create_proposal(
            c, body=body, author=people.citizen().principal, settings=settings, now=clock()
        )


def run_together(actions: list[Callable[[], str]]) -> list[str]:
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(action: Callable[[], str]) -> None:
        barrier.wait()
        try:
            outcome = action()
        except AlreadyDone:
            outcome = "refused"
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test
            outcome = f"error: {exc!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(outcomes)


def test_concurrent_supports_of_one_resident_leave_one(
    api: TestClient, engine: Engine, people: People, clock: Clock, civic_settings: Settings
) -> None:
    proposal_id = new_proposal(engine, people, clock, civic_settings)
    resident = people.resident()
    vault = Vault.from_settings(civic_settings)

    def support() -> str:
        service.support(
            engine, proposal_id=proposal_id, principal=resident.principal, vault=vault, now=clock()
        )
        return "stored"

    assert run_together([support] * 6) == ["refused"] * 5 + ["stored"]
    with engine.connect() as c:
        rows = c.execute(
            sa.select(sa.func.count()).where(proposal_supports.c.proposal_id == proposal_id)
        ).scalar_one()
        count = c.execute(
            sa.select(proposals.c.supports).where(proposals.c.id == proposal_id)
        ).scalar_one()
    assert (rows, count) == (1, 1)


def test_residents_crossing_the_threshold_together_move_it_to_review_once(
    api: TestClient, engine: Engine, people: People, clock: Clock, civic_settings: Settings
) -> None:
    proposal_id = new_proposal(engine, people, clock, civic_settings)  # threshold 2
    vault = Vault.from_settings(civic_settings)
    residents = [people.resident() for _ in range(5)]

    def supporter(who: object) -> Callable[[], str]:
        def support() -> str:
            service.support(
                engine,
                proposal_id=proposal_id,
                principal=who.principal,
                vault=vault,
                now=clock(),  # type: ignore[attr-defined]
            )
            return "stored"

        return support

    assert run_together([supporter(r) for r in residents]) == ["stored"] * 5
    with engine.connect() as c:
        row = c.execute(sa.select(proposals).where(proposals.c.id == proposal_id)).one()
        moves = (
            c.execute(
                sa.select(proposal_responses.c.status_to).where(
                    proposal_responses.c.proposal_id == proposal_id
                )
            )
            .scalars()
            .all()
        )
    assert row.supports == 5
    assert row.status == "under_review"
    assert moves == ["under_review"]
