"""The proposal API under ``/api/v1/proposals`` (and image uploads under ``/api/v1/uploads``)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from cityos.governance.civic._http import SafeJSONResponse, civic_router
from cityos.governance.civic.errors import TooLarge
from cityos.governance.polls.schemas import local
from cityos.governance.proposals import comments, images, service
from cityos.governance.proposals.schemas import (
    CommentCreate,
    CommentRead,
    ImageRead,
    ProposalCreate,
    ProposalPage,
    ProposalRead,
    ProposalUpdate,
    ReasonCreate,
    ReportRead,
    ResponseCreate,
    ResponseRead,
    Status,
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

router = civic_router("/api/v1/proposals", "proposals")
uploads_router = civic_router("/api/v1/uploads", "proposals")
PREFIX = "/api/v1/proposals"


def _read(
    identity: IdentityContext,
    connection: sa.Connection,
    row: sa.Row[Any],
    viewer: Principal | None,
) -> ProposalRead:
    zone = service.zone_of(row.zone_code)
    person = viewer is not None and viewer.kind == "user"
    supported = None
    if person and viewer is not None:
        key = service.supporter_key(Vault.from_settings(identity.settings), viewer.id)
        supported = service.has_supported(connection, proposal_id=row.id, supporter=key)
    return ProposalRead(
        id=row.id,
        title=row.title,
        description=row.description,
        location={"type": "Point", "coordinates": [row.lon, row.lat]},  # type: ignore[arg-type]
        zone={"code": zone.code, "name_ko": zone.name_ko, "name_en": zone.name_en},  # type: ignore[arg-type]
        status=row.status,
        supports=row.supports,
        threshold=row.threshold,
        supported_by_me=supported,
        by_me=(viewer.id == row.author_id) if person and viewer is not None else None,
        images=[
            f"{PREFIX}/{row.id}/images/{i}"
            for i in service.image_ids(connection, proposal_id=row.id)
        ],
        responses=[
            ResponseRead(
                id=r.id,
                status_from=r.status_from,
                status_to=r.status_to,
                message_ko=r.message_ko,
                message_en=r.message_en,
                department=r.department,
                created_at=r.created_at,
                created_at_local=local(r.created_at),
            )
            for r in service.responses(connection, proposal_id=row.id)
        ],
        created_at=row.created_at,
        created_at_local=local(row.created_at),
        published_at=row.published_at,
    )


def _one(identity: IdentityContext, proposal_id: str, viewer: Principal | None) -> ProposalRead:
    with identity.engine.connect() as connection:
        row = service.get_proposal(connection, proposal_id=proposal_id, viewer=viewer)
        return _read(identity, connection, row, viewer)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Propose something for a place in Sejong",
    responses={400: {"description": "the point is outside Sejong"}},
)
def create_proposal(
    body: ProposalCreate, principal: CurrentUser, identity: Identity
) -> ProposalRead:
    """Create a proposal at a point (GeoJSON, [longitude, latitude]) inside Sejong."""
    with identity.engine.begin() as connection:
        proposal_id = service.create_proposal(
            connection, body=body, author=principal, settings=identity.settings, now=identity.now
        )
    return _one(identity, proposal_id, principal)


@router.get("", summary="List proposals")
def list_proposals(
    identity: Identity,
    principal: OptionalUser,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    zone: Annotated[str | None, Query(max_length=10)] = None,
    mine: bool = False,
) -> ProposalPage:
    """Return proposals, newest first (``mine=true``: the caller's own, drafts included)."""
    with identity.engine.connect() as connection:
        rows = service.list_proposals(
            connection, viewer=principal, status=status_, zone=zone, mine=mine
        )
        return ProposalPage(items=[_read(identity, connection, r, principal) for r in rows])


@router.get(
    "/map",
    summary="Proposals as GeoJSON for the map",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def proposals_map(
    identity: Identity,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    zone: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """Return published proposals as an RFC 7946 FeatureCollection (no drafts, no authors)."""
    with identity.engine.connect() as connection:
        rows = service.list_proposals(connection, viewer=None, status=status_, zone=zone)
    features = [
        {
            "type": "Feature",
            "id": row.id,
            "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
            "properties": {
                "title": row.title,
                "status": row.status,
                "supports": row.supports,
                "threshold": row.threshold,
                "zone_code": row.zone_code,
                "url": f"{PREFIX}/{row.id}",
            },
        }
        for row in rows
    ]
    return SafeJSONResponse(
        {"type": "FeatureCollection", "features": features}, media_type="application/geo+json"
    )


@router.get("/moderation/reports", summary="The report queue (operators)")
def report_queue(
    principal: StaffUser, identity: Identity, include_resolved: bool = False
) -> list[ReportRead]:
    """Return reported comments, oldest report first."""
    with identity.engine.connect() as connection:
        found = comments.report_queue(
            connection, moderator=principal, open_only=not include_resolved
        )
    return [
        ReportRead(
            id=r["id"],
            comment_id=r["comment_id"],
            proposal_id=r["proposal_id"],
            comment_body=r["body"],
            comment_hidden=r["hidden_at"] is not None,
            reason=r["reason"],
            reports_on_comment=r["n"],
            created_at=r["created_at"],
            created_at_local=local(r["created_at"]),
            resolution=r["resolution"],
        )
        for r in found
    ]


@router.post(
    "/moderation/reports/{report_id}/dismiss",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Dismiss a report (operators)",
)
def dismiss_report(report_id: str, principal: StaffUser, identity: Identity) -> Response:
    """Close a report without hiding the comment."""
    with identity.engine.begin() as connection:
        comments.dismiss_report(
            connection, report_id=report_id, moderator=principal, now=identity.now
        )
    return Response(status_code=204)


@router.post(
    "/comments/{comment_id}/reports",
    status_code=status.HTTP_201_CREATED,
    summary="Report an abusive comment",
)
def report_comment(
    comment_id: str, body: ReasonCreate, principal: CurrentUser, identity: Identity
) -> dict[str, str]:
    """Put a comment in the operators' report queue (once per person)."""
    report_id = comments.report_comment(
        identity.engine,
        comment_id=comment_id,
        reporter=principal,
        reason=body.reason,
        now=identity.now,
    )
    return {
        "id": report_id,
        "message": "Thank you; an operator will look at it.",
        "message_ko": "신고해 주셔서 감사합니다. 담당 공무원이 확인합니다.",
    }


@router.post(
    "/comments/{comment_id}/hide",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Hide a comment with a reason (operators)",
)
def hide_comment(
    comment_id: str, body: ReasonCreate, principal: StaffUser, identity: Identity
) -> Response:
    """Hide a comment; it stays listed as hidden, with the reason."""
    with identity.engine.begin() as connection:
        comments.hide_comment(
            connection,
            comment_id=comment_id,
            moderator=principal,
            reason=body.reason,
            now=identity.now,
        )
    return Response(status_code=204)


@router.get("/{proposal_id}", summary="Read a proposal")
def read_proposal(proposal_id: str, identity: Identity, principal: OptionalUser) -> ProposalRead:
    """Return one proposal with its responses and image URLs."""
    return _one(identity, proposal_id, principal)


@router.patch(
    "/{proposal_id}",
    summary="Edit my draft",
    responses={400: {"description": "the new point is outside Sejong"}},
)
def update_draft(
    proposal_id: str, body: ProposalUpdate, principal: CurrentUser, identity: Identity
) -> ProposalRead:
    """Change the title, description or place of one's own draft (published: 409)."""
    with identity.engine.begin() as connection:
        service.update_draft(
            connection,
            proposal_id=proposal_id,
            body=body,
            author=principal,
            settings=identity.settings,
            now=identity.now,
        )
    return _one(identity, proposal_id, principal)


@router.post("/{proposal_id}/publish", summary="Publish my draft")
def publish(proposal_id: str, principal: CurrentUser, identity: Identity) -> ProposalRead:
    """Publish one's own draft: it is listed and may be supported and commented on."""
    with identity.engine.begin() as connection:
        service.publish(connection, proposal_id=proposal_id, author=principal, now=identity.now)
    return _one(identity, proposal_id, principal)


@router.post(
    "/{proposal_id}/supports",
    status_code=status.HTTP_201_CREATED,
    summary="Support a proposal (verified residents; once)",
    responses={403: {"description": "not a verified resident"}, 409: {"description": "again"}},
)
def add_support(proposal_id: str, principal: CurrentUser, identity: Identity) -> ProposalRead:
    """Support a proposal; the support that reaches the threshold sends it to review."""
    service.support(
        identity.engine,
        proposal_id=proposal_id,
        principal=principal,
        vault=Vault.from_settings(identity.settings),
        now=identity.now,
    )
    return _one(identity, proposal_id, principal)


@router.delete("/{proposal_id}/supports", summary="Withdraw my support")
def withdraw_support(proposal_id: str, principal: CurrentUser, identity: Identity) -> ProposalRead:
    """Take back one's support."""
    with identity.engine.begin() as connection:
        service.withdraw_support(
            connection,
            proposal_id=proposal_id,
            principal=principal,
            vault=Vault.from_settings(identity.settings),
            now=identity.now,
        )
    return _one(identity, proposal_id, principal)


@router.post(
    "/{proposal_id}/responses",
    status_code=status.HTTP_201_CREATED,
    summary="Answer officially and move the status (operators)",
)
def respond(
    proposal_id: str, body: ResponseCreate, principal: StaffUser, identity: Identity
) -> ProposalRead:
    """published → under_review → accepted / rejected; accepted → implemented."""
    with identity.engine.begin() as connection:
        service.respond(
            connection, proposal_id=proposal_id, body=body, operator=principal, now=identity.now
        )
    return _one(identity, proposal_id, principal)


@router.get("/{proposal_id}/comments", summary="Comments on a proposal")
def list_comments(
    proposal_id: str, identity: Identity, principal: OptionalUser
) -> list[CommentRead]:
    """Return comments, oldest first; hidden ones show only the reason."""
    with identity.engine.connect() as connection:
        proposal, rows = comments.list_comments(
            connection, proposal_id=proposal_id, viewer=principal
        )
    person = principal is not None and principal.kind == "user"
    return [
        CommentRead(
            id=c.id,
            body=None if c.hidden_at is not None else c.body,
            by_me=(principal.id == c.author_id) if person and principal is not None else None,
            by_proposer=c.author_id is not None and c.author_id == proposal.author_id,
            created_at=c.created_at,
            created_at_local=local(c.created_at),
            hidden=c.hidden_at is not None,
            hidden_reason=c.hidden_reason,
        )
        for c in rows
    ]


@router.post("/{proposal_id}/comments", status_code=status.HTTP_201_CREATED, summary="Comment")
def add_comment(
    proposal_id: str, body: CommentCreate, principal: CurrentUser, identity: Identity
) -> CommentRead:
    """Add a comment (stored as written; shown escaped)."""
    with identity.engine.begin() as connection:
        comment_id = comments.add_comment(
            connection,
            proposal_id=proposal_id,
            author=principal,
            body=body.body,
            now=identity.now,
        )
    return CommentRead(
        id=comment_id,
        body=body.body,
        by_me=True,
        by_proposer=False,
        created_at=identity.now,
        created_at_local=local(identity.now),
        hidden=False,
        hidden_reason=None,
    )


@router.get(
    "/{proposal_id}/images/{image_id}",
    summary="An image of a proposal",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def read_image(
    proposal_id: str, image_id: str, identity: Identity, principal: OptionalUser
) -> Response:
    """Return the stored (metadata-free) image."""
    with identity.engine.connect() as connection:
        service.get_proposal(connection, proposal_id=proposal_id, viewer=principal)
        row = service.get_image(connection, proposal_id=proposal_id, image_id=image_id)
    return Response(
        bytes(row.data),
        media_type=row.content_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )


@uploads_router.post(
    "/proposals/{proposal_id}/images",
    status_code=status.HTTP_201_CREATED,
    summary="Add an image to my proposal (JPEG/PNG, ≤ 5 MB, raw body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    responses={413: {"description": "over 5 MB"}, 415: {"description": "not JPEG/PNG"}},
)
async def upload_image(
    request: Request, proposal_id: str, principal: CurrentUser, identity: Identity
) -> ImageRead:
    """Store an image, re-encoded without EXIF/GPS metadata (the body is the image itself)."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > images.MAX_BYTES:
        raise TooLarge(
            f"The image is larger than {images.MAX_BYTES} bytes (5 MB).",
            f"이미지가 {images.MAX_BYTES}바이트(5MB)보다 큽니다.",
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > images.MAX_BYTES:
            raise TooLarge(
                f"The image is larger than {images.MAX_BYTES} bytes (5 MB).",
                f"이미지가 {images.MAX_BYTES}바이트(5MB)보다 큽니다.",
            )
    clean = await run_in_threadpool(images.clean_image, bytes(data), declared)

    def store() -> str:
        with identity.engine.begin() as connection:
            return service.add_image(
                connection,
                proposal_id=proposal_id,
                principal=principal,
                image=clean,
                now=identity.now,
            )

    image_id = await run_in_threadpool(store)
    return ImageRead(
        id=image_id,
        url=f"{PREFIX}/{proposal_id}/images/{image_id}",
        content_type=clean.content_type,
        width=clean.width,
        height=clean.height,
    )
