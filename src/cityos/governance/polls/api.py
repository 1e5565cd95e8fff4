"""The poll API under ``/api/v1/polls``: create, list, vote, results (JSON, CSV, SSE), pulse."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cityos.governance.civic._http import SafeJSONResponse, civic_router
from cityos.governance.civic.models import residences
from cityos.governance.polls import live, service
from cityos.governance.polls.schemas import (
    PollCreate,
    PollPage,
    PollRead,
    PollResults,
    PulseRead,
    State,
    VoteCreate,
    VoteReceipt,
    local,
)
from cityos.identity.dependencies import (
    CurrentUser,
    Identity,
    IdentityContext,
    OptionalUser,
    StaffUser,
)
from cityos.identity.models import Principal
from cityos.privacy.crypto import Vault

router = civic_router("/api/v1/polls", "polls")


def _read(poll: service.Poll, now: datetime, voted: bool | None) -> PollRead:
    return PollRead(
        id=poll.id,
        title_ko=poll.title_ko,
        title_en=poll.title_en,
        description_ko=poll.description_ko,
        description_en=poll.description_en,
        kind=poll.kind,  # type: ignore[arg-type]
        max_choices=poll.max_choices,
        options=poll.options,  # type: ignore[arg-type]
        zones=poll.zones,
        opens_at=poll.opens_at,
        closes_at=poll.closes_at,
        opens_at_local=local(poll.opens_at),
        closes_at_local=local(poll.closes_at),
        state=poll.state(now),
        live_results=poll.live_results,
        pulse=poll.pulse,
        has_voted=voted,
    )


def _voted(
    identity: IdentityContext, connection: sa.Connection, poll_id: str, who: Principal | None
) -> bool | None:
    if who is None or who.kind != "user":
        return None
    key = service.voter_key(Vault.from_settings(identity.settings), who.id)
    return service.has_voted(connection, poll_id=poll_id, voter=key)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a poll (operators)")
def create_poll(body: PollCreate, principal: StaffUser, identity: Identity) -> PollRead:
    """Create a poll; times need a UTC offset and are stored in UTC."""
    with identity.engine.begin() as connection:
        poll = service.create_poll(connection, body=body, creator=principal, now=identity.now)
    return _read(poll, identity.now, None)


@router.get("", summary="List polls")
def list_polls(
    identity: Identity,
    principal: OptionalUser,
    state: Annotated[State | None, Query(description="upcoming, open or closed")] = None,
    zone: Annotated[
        str | None, Query(description="only polls open to this zone's residents")
    ] = None,
) -> PollPage:
    """Return polls, the soonest to close first."""
    with identity.engine.connect() as connection:
        found = service.list_polls(connection, now=identity.now, state=state, zone=zone)
        return PollPage(
            items=[
                _read(p, identity.now, _voted(identity, connection, p.id, principal)) for p in found
            ]
        )


@router.get("/pulse", summary="The current pulse question for my zone (home page)")
def pulse(identity: Identity, principal: CurrentUser) -> PulseRead:
    """Return the open pulse poll the caller has not answered yet (closing soonest), or null.

    Residents get the pulse polls of their zone and of the whole city; others (who cannot
    vote) the whole city's.
    """
    with identity.engine.connect() as connection:
        zone = None
        if principal.kind == "user":
            zone = connection.execute(
                sa.select(residences.c.zone_code).where(residences.c.user_id == principal.id)
            ).scalar()
        for poll in service.list_polls(connection, now=identity.now, state="open"):
            if not poll.pulse or (poll.zones and zone not in poll.zones):
                continue
            voted = _voted(identity, connection, poll.id, principal)
            if not voted:
                return PulseRead(poll=_read(poll, identity.now, voted), zone_code=zone)
    return PulseRead(poll=None, zone_code=zone)


@router.get("/{poll_id}", summary="Read a poll")
def read_poll(poll_id: str, identity: Identity, principal: OptionalUser) -> PollRead:
    """Return one poll (with ``has_voted`` for a logged-in caller)."""
    with identity.engine.connect() as connection:
        poll = service.get_poll(connection, poll_id=poll_id)
        return _read(poll, identity.now, _voted(identity, connection, poll_id, principal))


@router.post("/{poll_id}/close", summary="Close a poll now (operators)")
async def close_poll(
    request: Request, poll_id: str, principal: StaffUser, identity: Identity
) -> PollRead:
    """End voting at once; results then become public, and open live streams get the final
    results and end (not at their next recount)."""

    def close() -> service.Poll:
        with identity.engine.begin() as connection:
            return service.close_poll(
                connection, poll_id=poll_id, operator=principal, now=identity.now
            )

    poll = await run_in_threadpool(close)
    feed = live.feed_of(request.app)
    if feed.watched(poll_id):
        feed.publish(poll_id, await run_in_threadpool(_results, identity, poll))
        feed.end(poll_id)
    return _read(poll, identity.now, None)


@router.post(
    "/{poll_id}/votes",
    status_code=status.HTTP_201_CREATED,
    summary="Vote (verified residents; once)",
    responses={
        403: {"description": "not a verified resident, or not of the poll's zones"},
        409: {"description": "already voted, or the poll is not open"},
    },
)
async def vote(
    request: Request, poll_id: str, body: VoteCreate, principal: CurrentUser, identity: Identity
) -> VoteReceipt:
    """Record the caller's ballot; the choices are stored apart from who voted."""
    vault = Vault.from_settings(identity.settings)
    poll = await run_in_threadpool(
        service.record_vote,
        identity.engine,
        poll_id=poll_id,
        principal=principal,
        choices=body.choices,
        vault=vault,
        now=identity.now,
    )
    feed = live.feed_of(request.app)
    if poll.live_results and feed.watched(poll_id):
        feed.publish(poll_id, await run_in_threadpool(_results, identity, poll))
    return VoteReceipt(
        poll_id=poll_id,
        recorded=True,
        message="Your vote is recorded. Thank you.",
        message_ko="투표가 기록되었습니다. 감사합니다.",
    )


def _results(identity: IdentityContext, poll: service.Poll) -> dict[str, Any]:
    with identity.engine.connect() as connection:
        found = service.results(connection, poll=poll, now=identity.now)
    return PollResults.model_validate(
        found | {"computed_at_local": local(identity.now)}
    ).model_dump(mode="json")


def _poll(identity: IdentityContext, poll_id: str) -> service.Poll:
    with identity.engine.connect() as connection:
        return service.get_poll(connection, poll_id=poll_id)


def _visible_poll(
    poll_id: str, identity: IdentityContext, principal: Principal | None
) -> service.Poll:
    with identity.engine.connect() as connection:
        poll = service.get_poll(connection, poll_id=poll_id)
    if not service.results_visible(poll, now=identity.now, principal=principal):
        service.refuse_hidden_results(poll)
    return poll


@router.get("/{poll_id}/results", summary="Results (aggregates only)")
def results(poll_id: str, identity: Identity, principal: OptionalUser) -> PollResults:
    """Return counts per option (ranked: first preferences, with the instant-runoff rounds)."""
    poll = _visible_poll(poll_id, identity, principal)
    return PollResults.model_validate(_results(identity, poll))


@router.get("/{poll_id}/results.json", summary="Results as a JSON file (aggregates only)")
def results_json(poll_id: str, identity: Identity, principal: OptionalUser) -> Response:
    """Return the results of ``GET …/results`` as a file to save."""
    poll = _visible_poll(poll_id, identity, principal)
    return SafeJSONResponse(
        _results(identity, poll),
        headers={"Content-Disposition": f'attachment; filename="poll-{poll_id}-results.json"'},
    )


@router.get(
    "/{poll_id}/results.csv",
    summary="Results as CSV (aggregates only)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def results_csv(poll_id: str, identity: Identity, principal: OptionalUser) -> Response:
    """Return the results as UTF-8 CSV (with a BOM, so spreadsheet programs read Korean)."""
    poll = _visible_poll(poll_id, identity, principal)
    found = _results(identity, poll)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    labels = {o["id"]: (o["label_ko"], o["label_en"]) for o in found["options"]}
    if poll.kind == "ranked":
        writer.writerow(
            ["round", "option_id", "label_ko", "label_en", "votes", "exhausted", "eliminated"]
        )
        for r in found["rounds"]:
            for option_id, votes in r["counts"].items():
                ko, en = labels[int(option_id)]
                eliminated = "yes" if r["eliminated"] == int(option_id) else ""
                writer.writerow([r["round"], option_id, ko, en, votes, r["exhausted"], eliminated])
    else:
        writer.writerow(["option_id", "label_ko", "label_en", "votes", "share"])
        for o in found["options"]:
            writer.writerow([o["id"], o["label_ko"], o["label_en"], o["votes"], o["share"]])
    writer.writerow([])
    writer.writerow(["ballots", found["ballots"]])
    writer.writerow(["state", found["state"]])
    writer.writerow(["computed_at", found["computed_at"], found["computed_at_local"]])
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="poll-{poll_id}-results.csv"'},
    )


@router.get(
    "/{poll_id}/live",
    summary="Live results (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_results(request: Request, poll_id: str, identity: Identity) -> StreamingResponse:
    """Stream ``event: results`` (aggregates) at once and after every vote, while allowed.

    Open only for polls whose results may be shown before closing (``live_results``), or
    closed ones (one message, then the stream ends).
    """
    poll = await run_in_threadpool(_visible_poll, poll_id, identity, None)
    feed = live.feed_of(request.app)
    queue = feed.subscribe(poll_id)

    async def recount() -> tuple[dict[str, Any], float]:
        clock = getattr(request.app.state, "identity_clock", None)
        now = clock() if clock is not None else datetime.now(UTC)
        at_now = IdentityContext(identity.settings, identity.engine, now, identity.verifier)
        current = await run_in_threadpool(_poll, at_now, poll.id)  # it may have been closed early
        found = await run_in_threadpool(_results, at_now, current)
        return found, (current.closes_at - now).total_seconds()

    return StreamingResponse(
        live.stream(request, feed, poll_id, queue, recount),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
