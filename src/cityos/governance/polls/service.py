"""Polls: create, read, vote (one verified resident, one vote) and count.

The one-vote rule is the unique constraint ``uq_governance_poll_voters_one_vote``; the
service does not look first, so two concurrent ballots of one person can never both be
stored: the second transaction fails on the constraint and is rolled back whole (its
ballot row with it) and answered 409.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cityos.governance.civic.errors import (
    AlreadyDone,
    BadInput,
    Forbidden,
    NotFound,
    NotResident,
    PollClosed,
    busy_as_503,
)
from cityos.governance.civic.models import poll_ballots, poll_voters, polls
from cityos.governance.civic.residence import resident_zone
from cityos.governance.civic.zones import get_zone
from cityos.governance.polls import tally
from cityos.governance.polls.schemas import PollCreate, State
from cityos.identity.models import Principal, Role
from cityos.privacy.crypto import Vault

VOTER_LABEL = "governance/poll-voter"


@dataclass(frozen=True)
class Poll:
    """A poll as stored."""

    id: str
    title_ko: str
    title_en: str
    description_ko: str
    description_en: str
    kind: str
    max_choices: int
    options: list[dict[str, Any]]
    zones: list[str]
    opens_at: datetime
    closes_at: datetime
    live_results: bool
    pulse: bool
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Poll:
        """Build a Poll from a ``governance_polls`` row."""
        return cls(**{c: getattr(row, c) for c in cls.__dataclass_fields__})

    def state(self, now: datetime) -> State:
        """Return upcoming, open or closed at ``now``."""
        if now < self.opens_at:
            return "upcoming"
        return "open" if now < self.closes_at else "closed"

    @property
    def option_ids(self) -> list[int]:
        """Return the option ids in the poll's order."""
        return [int(o["id"]) for o in self.options]


def create_poll(
    connection: Connection, *, body: PollCreate, creator: Principal, now: datetime
) -> Poll:
    """Store a new poll, checking its rules; only operators and administrators create polls."""
    if creator.kind != "user" or not creator.has_any(Role.OPERATOR, Role.ADMIN):
        raise Forbidden(
            "Only an operator or an administrator creates polls.",
            "투표는 공무원 또는 관리자만 만들 수 있습니다.",
        )
    unknown = [code for code in body.zones if get_zone(code) is None]
    if unknown:
        raise BadInput(
            f"Unknown zone codes {unknown}: use codes of GET /api/v1/zones (e.g. 36110101).",
            f"알 수 없는 행정구역 코드 {unknown}입니다. "
            "GET /api/v1/zones의 코드(예: 36110101)를 쓰세요.",
        )
    if len(set(body.zones)) != len(body.zones):
        raise BadInput("A zone is listed twice.", "같은 행정구역이 두 번 들어 있습니다.")
    opens_at = body.opens_at or now
    if body.closes_at <= opens_at:
        raise BadInput(
            "closes_at must be after opens_at.",
            "마감 시각(closes_at)은 시작 시각(opens_at) 뒤여야 합니다.",
        )
    if body.closes_at <= now:
        raise BadInput("closes_at is in the past.", "마감 시각(closes_at)이 이미 지났습니다.")
    labels = [(o.label_ko, o.label_en) for o in body.options]
    if len({ko for ko, _ in labels}) != len(labels) or len({en for _, en in labels}) != len(labels):
        raise BadInput("Two options have the same label.", "같은 이름의 선택지가 두 개 있습니다.")
    n = len(body.options)
    if body.kind == "single":
        if body.max_choices not in (None, 1):
            raise BadInput(
                "A single-choice poll takes exactly one choice: leave max_choices out.",
                "단일 선택 투표는 하나만 고릅니다. max_choices를 빼세요.",
            )
        max_choices = 1
    else:
        max_choices = body.max_choices or n
        if max_choices > n:
            raise BadInput(
                f"max_choices ({max_choices}) is more than the {n} options.",
                f"max_choices({max_choices})가 선택지 수({n})보다 큽니다.",
            )
    poll_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(polls).values(
            id=poll_id,
            title_ko=body.title_ko,
            title_en=body.title_en,
            description_ko=body.description_ko,
            description_en=body.description_en,
            kind=body.kind,
            max_choices=max_choices,
            options=[
                {"id": i + 1, "label_ko": o.label_ko, "label_en": o.label_en}
                for i, o in enumerate(body.options)
            ],
            zones=sorted(body.zones),
            opens_at=opens_at,
            closes_at=body.closes_at,
            live_results=body.live_results,
            pulse=body.pulse,
            created_by=creator.id,
            created_at=now,
        )
    )
    return get_poll(connection, poll_id=poll_id)


def get_poll(connection: Connection, *, poll_id: str) -> Poll:
    """Return a poll or raise NotFound."""
    row = connection.execute(sa.select(polls).where(polls.c.id == poll_id)).first()
    if row is None:
        raise NotFound(f"No poll {poll_id!r}.", f"{poll_id!r} 투표가 없습니다.")
    return Poll.from_row(row)


def list_polls(
    connection: Connection, *, now: datetime, state: State | None = None, zone: str | None = None
) -> list[Poll]:
    """Return polls, the soonest to close first; optionally of one state or open to one zone."""
    query = sa.select(polls).order_by(polls.c.closes_at, polls.c.id)
    if state == "open":
        query = query.where(polls.c.opens_at <= now, polls.c.closes_at > now)
    elif state == "upcoming":
        query = query.where(polls.c.opens_at > now)
    elif state == "closed":
        query = query.where(polls.c.closes_at <= now)
    found = [Poll.from_row(row) for row in connection.execute(query)]
    if zone is not None:
        found = [p for p in found if not p.zones or zone in p.zones]
    return found


def close_poll(connection: Connection, *, poll_id: str, operator: Principal, now: datetime) -> Poll:
    """Close an open or upcoming poll now (operators and administrators)."""
    if not operator.has_any(Role.OPERATOR, Role.ADMIN):
        raise Forbidden(
            "Only an operator or an administrator closes polls.",
            "투표는 공무원 또는 관리자만 마감할 수 있습니다.",
        )
    poll = get_poll(connection, poll_id=poll_id)
    if poll.state(now) == "closed":
        raise PollClosed("The poll is already closed.", "이미 마감된 투표입니다.")
    # closes_at > opens_at is a table constraint; a poll closed the instant it opened (or
    # before) gets an opening one microsecond earlier.
    opens_at = min(poll.opens_at, now - timedelta(microseconds=1))
    connection.execute(
        sa.update(polls).where(polls.c.id == poll_id).values(opens_at=opens_at, closes_at=now)
    )
    return get_poll(connection, poll_id=poll_id)


def voter_key(vault: Vault, user_id: str) -> str:
    """Return the pseudonym under which a person's vote is recorded (never their id)."""
    return vault.subject(user_id, label=VOTER_LABEL)


def has_voted(connection: Connection, *, poll_id: str, voter: str) -> bool:
    """Return whether this pseudonym has voted in the poll."""
    return (
        connection.execute(
            sa.select(poll_voters.c.voter).where(
                poll_voters.c.poll_id == poll_id, poll_voters.c.voter == voter
            )
        ).first()
        is not None
    )


def check_ballot(poll: Poll, choices: Sequence[int]) -> list[int]:
    """Return the ballot if it fits the poll's kind and options, else raise BadInput."""
    unknown = [c for c in choices if c not in poll.option_ids]
    if unknown:
        raise BadInput(
            f"Unknown option ids {unknown}: this poll's options are {poll.option_ids}.",
            f"없는 선택지 번호 {unknown}입니다. 이 투표의 선택지는 {poll.option_ids}입니다.",
        )
    if len(set(choices)) != len(choices):
        raise BadInput("An option is chosen twice.", "같은 선택지를 두 번 골랐습니다.")
    if poll.kind == "single" and len(choices) != 1:
        raise BadInput(
            "This poll takes exactly one choice.", "이 투표는 선택지 하나만 고를 수 있습니다."
        )
    if len(choices) > poll.max_choices:
        raise BadInput(
            f"Choose at most {poll.max_choices} options.",
            f"선택지는 최대 {poll.max_choices}개까지 고를 수 있습니다.",
        )
    return list(choices)


def record_vote(
    engine: Engine,
    *,
    poll_id: str,
    principal: Principal,
    choices: Sequence[int],
    vault: Vault,
    now: datetime,
) -> Poll:
    """Record one verified resident's ballot in its own transaction; 409 on a second vote."""
    try:
        with busy_as_503(), engine.begin() as connection:
            poll = get_poll(connection, poll_id=poll_id)
            zone = resident_zone(connection, principal)
            state = poll.state(now)
            if state == "upcoming":
                raise PollClosed(
                    f"This poll opens at {poll.opens_at.isoformat()} (UTC); vote then.",
                    "이 투표는 아직 시작되지 않았습니다. 시작 시각 이후에 투표하세요.",
                )
            if state == "closed":
                raise PollClosed(
                    f"This poll closed at {poll.closes_at.isoformat()} (UTC); "
                    "votes are no longer taken.",
                    "마감된 투표입니다. 더 이상 투표할 수 없습니다.",
                )
            if poll.zones and zone not in poll.zones:
                raise NotResident(
                    "This poll is only for residents of its zones; "
                    "your home zone is not one of them.",
                    "이 투표는 해당 지역 주민만 참여할 수 있습니다. "
                    "거주 동이 대상 지역이 아닙니다.",
                )
            ballot = check_ballot(poll, choices)
            connection.execute(
                sa.insert(poll_voters).values(poll_id=poll_id, voter=voter_key(vault, principal.id))
            )
            connection.execute(
                sa.insert(poll_ballots).values(
                    id=str(uuid.uuid4()), poll_id=poll_id, choices=ballot
                )
            )
    except IntegrityError as exc:
        raise AlreadyDone(
            "You have already voted in this poll; one resident, one vote.",
            "이미 이 투표에 참여했습니다. 주민 한 명은 한 번만 투표할 수 있습니다.",
        ) from exc
    return poll


def results_visible(poll: Poll, *, now: datetime, principal: Principal | None) -> bool:
    """Return whether results may be shown: after closing, when live results are on, or to staff."""
    if poll.state(now) == "closed" or poll.live_results:
        return True
    return principal is not None and principal.has_any(Role.OPERATOR, Role.ADMIN)


def refuse_hidden_results(poll: Poll) -> None:
    """Raise the 403 for results asked for before closing of a poll that hides them."""
    raise Forbidden(
        f"Results of this poll are shown after it closes ({poll.closes_at.isoformat()} UTC).",
        "이 투표의 결과는 마감 후에 공개됩니다.",
    )


def results(connection: Connection, *, poll: Poll, now: datetime) -> dict[str, Any]:
    """Return the poll's aggregate results (counts; IRV rounds for ranked polls)."""
    ballots = [
        [int(c) for c in row.choices]
        for row in connection.execute(
            sa.select(poll_ballots.c.choices).where(poll_ballots.c.poll_id == poll.id)
        )
    ]
    total = len(ballots)
    out: dict[str, Any] = {
        "poll_id": poll.id,
        "kind": poll.kind,
        "state": poll.state(now),
        "ballots": total,
        "computed_at": now,
    }
    if poll.kind == "ranked":
        runoff = tally.instant_runoff(poll.option_ids, ballots)
        first = runoff.rounds[0].counts if runoff.rounds else {}
        out["rounds"] = [
            {
                "round": r.number,
                "counts": r.counts,
                "exhausted": r.exhausted,
                "eliminated": r.eliminated,
            }
            for r in runoff.rounds
        ]
        out["winner"] = runoff.winner
        out["tied"] = runoff.tied
        shown = first  # options show first preferences; the rounds show the runoff
    else:
        shown = tally.plurality(poll.option_ids, ballots)
    out["options"] = [
        {
            "id": o["id"],
            "label_ko": o["label_ko"],
            "label_en": o["label_en"],
            "votes": shown.get(int(o["id"]), 0),
            "share": round(shown.get(int(o["id"]), 0) / total, 4) if total else 0.0,
        }
        for o in poll.options
    ]
    return out
