"""Proposals: create, publish, support (one per verified resident), review, respond.

Threshold: a proposal needs ``max(minimum, ceil(percent / 100 × residents of its zone))``
supports (settings ``proposal_support_percent`` and ``proposal_support_minimum``), fixed when
it is created so the goal never moves under it. The support that reaches it moves the
proposal from ``published`` to ``under_review`` in the same transaction, with a response
record saying so. One support per resident is the unique constraint
``uq_governance_proposal_supports_one``.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cityos.config import Settings
from cityos.governance.civic.errors import (
    AlreadyDone,
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    OutsideSejong,
    busy_as_503,
)
from cityos.governance.civic.models import (
    proposal_images,
    proposal_responses,
    proposal_supports,
    proposals,
)
from cityos.governance.civic.residence import resident_zone
from cityos.governance.civic.zones import Zone, get_zone, zone_at
from cityos.governance.proposals.images import CleanImage
from cityos.governance.proposals.schemas import (
    TRANSITIONS,
    ProposalCreate,
    ProposalUpdate,
    ResponseCreate,
)
from cityos.identity._routing import user_only
from cityos.identity.models import Principal, Role
from cityos.privacy.crypto import Vault

SUPPORTER_LABEL = "governance/proposal-supporter"
MAX_IMAGES = 5


def threshold_for(zone: Zone, settings: Settings) -> int:
    """Return the supports a proposal in ``zone`` needs to go to official review."""
    share = math.ceil(zone.population * settings.proposal_support_percent / 100)
    return max(settings.proposal_support_minimum, share)


def is_staff(principal: Principal | None) -> bool:
    """Return whether the caller is an operator or an administrator."""
    return principal is not None and principal.has_any(Role.OPERATOR, Role.ADMIN)


def create_proposal(
    connection: Connection,
    *,
    body: ProposalCreate,
    author: Principal,
    settings: Settings,
    now: datetime,
) -> str:
    """Store a citizen's proposal (published at once unless ``publish`` is false)."""
    author_id = user_only(author)
    lon, lat = body.location.coordinates
    zone = _zone_of_point(lon, lat)
    proposal_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(proposals).values(
            id=proposal_id,
            author_id=author_id,
            title=body.title,
            description=body.description,
            lon=lon,
            lat=lat,
            zone_code=zone.code,
            status="published" if body.publish else "draft",
            threshold=threshold_for(zone, settings),
            supports=0,
            created_at=now,
            updated_at=now,
            published_at=now if body.publish else None,
        )
    )
    return proposal_id


def _zone_of_point(lon: float, lat: float) -> Zone:
    zone = zone_at(lon, lat)
    if zone is None:
        raise OutsideSejong(
            f"The point ({lon}, {lat}) is outside Sejong; put the pin inside the city "
            "(coordinates are [longitude, latitude]).",
            f"지점 ({lon}, {lat})이 세종시 밖입니다. 세종시 안에 표시하세요"
            "(좌표는 [경도, 위도] 순서입니다).",
        )
    return zone


def update_draft(
    connection: Connection,
    *,
    proposal_id: str,
    body: ProposalUpdate,
    author: Principal,
    settings: Settings,
    now: datetime,
) -> None:
    """Change one's own draft; a published proposal is no longer edited (supporters saw it)."""
    row = get_proposal(connection, proposal_id=proposal_id, viewer=author)
    if row.author_id != author.id:
        raise Forbidden("Only the proposer edits a draft.", "초안은 제안자만 고칠 수 있습니다.")
    values: dict[str, Any] = {"updated_at": now}
    if body.title is not None:
        values["title"] = body.title
    if body.description is not None:
        values["description"] = body.description
    if body.location is not None:
        lon, lat = body.location.coordinates
        zone = _zone_of_point(lon, lat)
        values.update(
            lon=lon, lat=lat, zone_code=zone.code, threshold=threshold_for(zone, settings)
        )
    changed = connection.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id, proposals.c.status == "draft")
        .values(**values)
    ).rowcount
    if changed != 1:
        raise Conflict(
            f"Only a draft can be edited; this proposal is {row.status}.",
            f"초안만 고칠 수 있습니다. 이 제안은 {row.status} 상태입니다.",
        )


def get_proposal(
    connection: Connection, *, proposal_id: str, viewer: Principal | None
) -> sa.Row[Any]:
    """Return a proposal row; a draft is found only by its author and by staff."""
    row = connection.execute(sa.select(proposals).where(proposals.c.id == proposal_id)).first()
    hidden_draft = (
        row is not None
        and row.status == "draft"
        and not is_staff(viewer)
        and (viewer is None or viewer.id != row.author_id)
    )
    if row is None or hidden_draft:
        raise NotFound(f"No proposal {proposal_id!r}.", f"{proposal_id!r} 제안이 없습니다.")
    return row


def list_proposals(
    connection: Connection,
    *,
    viewer: Principal | None,
    status: str | None = None,
    zone: str | None = None,
    mine: bool = False,
) -> list[sa.Row[Any]]:
    """Return proposals, newest first; drafts only the caller's own (``mine``)."""
    query = sa.select(proposals).order_by(proposals.c.created_at.desc(), proposals.c.id)
    if mine:
        if viewer is None:
            return []
        query = query.where(proposals.c.author_id == viewer.id)
    else:
        query = query.where(proposals.c.status != "draft")
    if status is not None:
        query = query.where(proposals.c.status == status)
    if zone is not None:
        query = query.where(proposals.c.zone_code == zone)
    return list(connection.execute(query))


def publish(connection: Connection, *, proposal_id: str, author: Principal, now: datetime) -> None:
    """Publish one's own draft."""
    row = get_proposal(connection, proposal_id=proposal_id, viewer=author)
    if row.author_id != author.id:
        raise Forbidden(
            "Only the proposer publishes a draft.", "초안은 제안자만 게시할 수 있습니다."
        )
    changed = connection.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id, proposals.c.status == "draft")
        .values(status="published", published_at=now, updated_at=now)
    ).rowcount
    if changed != 1:
        raise Conflict(
            f"The proposal is already {row.status}, not a draft.",
            f"이미 초안이 아닌 제안입니다 ({row.status}).",
        )


def supporter_key(vault: Vault, user_id: str) -> str:
    """Return the pseudonym under which a person's support is recorded."""
    return vault.subject(user_id, label=SUPPORTER_LABEL)


def has_supported(connection: Connection, *, proposal_id: str, supporter: str) -> bool:
    """Return whether this pseudonym supports the proposal."""
    found = connection.execute(
        sa.select(proposal_supports.c.supporter).where(
            proposal_supports.c.proposal_id == proposal_id,
            proposal_supports.c.supporter == supporter,
        )
    ).first()
    return found is not None


def support(
    engine: Engine, *, proposal_id: str, principal: Principal, vault: Vault, now: datetime
) -> None:
    """Add a verified resident's support; at the threshold the proposal goes to review."""
    try:
        with busy_as_503(), engine.begin() as connection:
            resident_zone(connection, principal)
            row = get_proposal(connection, proposal_id=proposal_id, viewer=principal)
            if row.status not in ("published", "under_review"):
                raise Conflict(
                    f"Supports are taken while a proposal is published or under review; "
                    f"this one is {row.status}.",
                    f"게시 중이거나 검토 중인 제안만 지지할 수 있습니다 (현재: {row.status}).",
                )
            connection.execute(
                sa.insert(proposal_supports).values(
                    proposal_id=proposal_id, supporter=supporter_key(vault, principal.id)
                )
            )
            connection.execute(
                sa.update(proposals)
                .where(proposals.c.id == proposal_id)
                .values(supports=proposals.c.supports + 1, updated_at=now)
            )
            moved = connection.execute(
                sa.update(proposals)
                .where(
                    proposals.c.id == proposal_id,
                    proposals.c.status == "published",
                    proposals.c.supports >= proposals.c.threshold,
                )
                .values(status="under_review")
            ).rowcount
            if moved:
                _record_response(
                    connection,
                    proposal_id=proposal_id,
                    status_from="published",
                    status_to="under_review",
                    message_ko="지지 수가 기준에 도달하여 공식 검토로 넘어갔습니다.",
                    message_en="The proposal reached its support threshold and went to "
                    "official review.",
                    responder_id="system",
                    department=None,
                    now=now,
                )
    except IntegrityError as exc:
        raise AlreadyDone(
            "You already support this proposal; one resident, one support.",
            "이미 이 제안을 지지했습니다. 주민 한 명은 한 번만 지지할 수 있습니다.",
        ) from exc


def withdraw_support(
    connection: Connection, *, proposal_id: str, principal: Principal, vault: Vault, now: datetime
) -> None:
    """Take back one's support (a proposal already under review stays there)."""
    row = get_proposal(connection, proposal_id=proposal_id, viewer=principal)
    if row.status not in ("published", "under_review"):
        raise Conflict(
            f"The proposal is {row.status}; supports can no longer change.",
            f"제안이 {row.status} 상태라 지지를 바꿀 수 없습니다.",
        )
    removed = connection.execute(
        sa.delete(proposal_supports).where(
            proposal_supports.c.proposal_id == proposal_id,
            proposal_supports.c.supporter == supporter_key(vault, user_only(principal)),
        )
    ).rowcount
    if removed != 1:
        raise NotFound("You do not support this proposal.", "이 제안을 지지하지 않았습니다.")
    connection.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id)
        .values(supports=proposals.c.supports - 1, updated_at=now)
    )


def next_seq(table: sa.Table, proposal_id: str) -> sa.ScalarSelect[Any]:
    """Return a subquery numbering a proposal's rows of ``table`` 1, 2, … (their order)."""
    return (
        sa.select(sa.func.coalesce(sa.func.max(table.c.seq), 0) + 1)
        .where(table.c.proposal_id == proposal_id)
        .scalar_subquery()
    )


def _record_response(
    connection: Connection, *, proposal_id: str, now: datetime, **values: Any
) -> None:
    connection.execute(
        sa.insert(proposal_responses).values(
            id=str(uuid.uuid4()),
            proposal_id=proposal_id,
            seq=next_seq(proposal_responses, proposal_id),
            created_at=now,
            **values,
        )
    )


def respond(
    connection: Connection,
    *,
    proposal_id: str,
    body: ResponseCreate,
    operator: Principal,
    now: datetime,
) -> None:
    """Record an operator's official response, moving the status along the workflow."""
    if operator.kind != "user" or not is_staff(operator):
        raise Forbidden(
            "Only an operator or an administrator answers proposals.",
            "제안에는 공무원 또는 관리자만 공식 답변할 수 있습니다.",
        )
    row = get_proposal(connection, proposal_id=proposal_id, viewer=operator)
    allowed = TRANSITIONS[row.status]
    if body.status not in allowed:
        choices = ", ".join(sorted(allowed)) or "none (the proposer must publish it first)"
        raise Conflict(
            f"A {row.status} proposal cannot become {body.status}; allowed: {choices}.",
            f"{row.status} 상태의 제안은 {body.status}(으)로 바꿀 수 없습니다. "
            f"가능한 상태: {choices}.",
        )
    changed = connection.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id, proposals.c.status == row.status)
        .values(status=body.status, updated_at=now)
    ).rowcount
    if changed != 1:
        raise Conflict(
            "The proposal changed meanwhile; reload it and answer again.",
            "그사이 제안이 바뀌었습니다. 다시 불러와 답변하세요.",
        )
    _record_response(
        connection,
        proposal_id=proposal_id,
        status_from=row.status,
        status_to=body.status,
        message_ko=body.message_ko,
        message_en=body.message_en,
        responder_id=operator.id,
        department=operator.department,
        now=now,
    )


def responses(connection: Connection, *, proposal_id: str) -> list[sa.Row[Any]]:
    """Return a proposal's responses, oldest first."""
    return list(
        connection.execute(
            sa.select(proposal_responses)
            .where(proposal_responses.c.proposal_id == proposal_id)
            .order_by(proposal_responses.c.seq, proposal_responses.c.id)
        )
    )


def add_image(
    connection: Connection,
    *,
    proposal_id: str,
    principal: Principal,
    image: CleanImage,
    now: datetime,
) -> str:
    """Attach a cleaned image to one's own draft or published proposal (at most five)."""
    row = get_proposal(connection, proposal_id=proposal_id, viewer=principal)
    if row.author_id != principal.id:
        raise Forbidden("Only the proposer adds images.", "이미지는 제안자만 추가할 수 있습니다.")
    if row.status not in ("draft", "published"):
        raise Conflict(
            f"Images can be added to a draft or published proposal; this one is {row.status}.",
            f"초안이나 게시 중인 제안에만 이미지를 추가할 수 있습니다 (현재: {row.status}).",
        )
    count = connection.execute(
        sa.select(sa.func.count())
        .select_from(proposal_images)
        .where(proposal_images.c.proposal_id == proposal_id)
    ).scalar_one()
    if count >= MAX_IMAGES:
        raise Conflict(
            f"A proposal has at most {MAX_IMAGES} images.",
            f"제안 하나에 이미지는 최대 {MAX_IMAGES}개입니다.",
        )
    image_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(proposal_images).values(
            id=image_id,
            proposal_id=proposal_id,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            data=image.data,
            created_at=now,
        )
    )
    return image_id


def image_ids(connection: Connection, *, proposal_id: str) -> list[str]:
    """Return a proposal's image ids, oldest first."""
    return list(
        connection.execute(
            sa.select(proposal_images.c.id)
            .where(proposal_images.c.proposal_id == proposal_id)
            .order_by(proposal_images.c.created_at, proposal_images.c.id)
        ).scalars()
    )


def get_image(connection: Connection, *, proposal_id: str, image_id: str) -> sa.Row[Any]:
    """Return one image row or raise NotFound."""
    row = connection.execute(
        sa.select(proposal_images).where(
            proposal_images.c.id == image_id, proposal_images.c.proposal_id == proposal_id
        )
    ).first()
    if row is None:
        raise NotFound("No such image.", "해당 이미지가 없습니다.")
    return row


def zone_of(code: str) -> Zone:
    """Return a stored proposal's zone."""
    zone = get_zone(code)
    if zone is None:  # pragma: no cover - codes are checked on the way in
        raise BadInput(f"Unknown zone {code}.", f"알 수 없는 행정구역 {code}.")
    return zone
