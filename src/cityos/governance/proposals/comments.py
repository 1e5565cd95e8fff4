"""Comments on proposals, citizens' reports of abusive ones, and operators' moderation.

A comment is stored exactly as written (script included, as text; the API escapes it on
output). Operators hide a comment with a reason (it stays, shown as hidden with the reason)
and work a queue of reports; hiding resolves the comment's open reports.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cityos.governance.civic.errors import (
    AlreadyDone,
    Conflict,
    Forbidden,
    NotFound,
    busy_as_503,
)
from cityos.governance.civic.models import comment_reports, proposal_comments, proposals
from cityos.governance.proposals.service import get_proposal, is_staff, next_seq
from cityos.identity._routing import user_only
from cityos.identity.models import Principal


def add_comment(
    connection: Connection, *, proposal_id: str, author: Principal, body: str, now: datetime
) -> str:
    """Add a comment to a proposal that is no longer a draft."""
    author_id = user_only(author)
    row = get_proposal(connection, proposal_id=proposal_id, viewer=author)
    if row.status == "draft":
        raise Conflict(
            "A draft takes no comments; publish it first.",
            "초안에는 댓글을 달 수 없습니다. 먼저 게시하세요.",
        )
    comment_id = str(uuid.uuid4())
    connection.execute(
        sa.insert(proposal_comments).values(
            id=comment_id,
            proposal_id=proposal_id,
            author_id=author_id,
            seq=next_seq(proposal_comments, proposal_id),
            body=body,
            created_at=now,
        )
    )
    return comment_id


def list_comments(
    connection: Connection, *, proposal_id: str, viewer: Principal | None
) -> tuple[sa.Row[Any], list[sa.Row[Any]]]:
    """Return the proposal and its comments, oldest first."""
    proposal = get_proposal(connection, proposal_id=proposal_id, viewer=viewer)
    rows = connection.execute(
        sa.select(proposal_comments)
        .where(proposal_comments.c.proposal_id == proposal_id)
        .order_by(proposal_comments.c.seq, proposal_comments.c.id)
    )
    return proposal, list(rows)


def _comment(connection: Connection, comment_id: str) -> sa.Row[Any]:
    row = connection.execute(
        sa.select(proposal_comments).where(proposal_comments.c.id == comment_id)
    ).first()
    if row is None:
        raise NotFound(f"No comment {comment_id!r}.", f"{comment_id!r} 댓글이 없습니다.")
    return row


def report_comment(
    engine: Engine, *, comment_id: str, reporter: Principal, reason: str, now: datetime
) -> str:
    """Report an abusive comment (once per person) to the operators' queue."""
    reporter_id = user_only(reporter)
    report_id = str(uuid.uuid4())
    try:
        with busy_as_503(), engine.begin() as connection:
            comment = _comment(connection, comment_id)
            get_proposal(connection, proposal_id=comment.proposal_id, viewer=reporter)
            connection.execute(
                sa.insert(comment_reports).values(
                    id=report_id,
                    comment_id=comment_id,
                    reporter_id=reporter_id,
                    reason=reason,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise AlreadyDone(
            "You have already reported this comment.", "이미 신고한 댓글입니다."
        ) from exc
    return report_id


def _staff_only(principal: Principal) -> None:
    if not is_staff(principal):
        raise Forbidden(
            "Only an operator or an administrator moderates comments.",
            "댓글 관리는 공무원 또는 관리자만 할 수 있습니다.",
        )


def hide_comment(
    connection: Connection, *, comment_id: str, moderator: Principal, reason: str, now: datetime
) -> None:
    """Hide a comment with a reason and resolve its open reports."""
    _staff_only(moderator)
    comment = _comment(connection, comment_id)
    if comment.hidden_at is not None:
        raise Conflict("The comment is already hidden.", "이미 숨긴 댓글입니다.")
    connection.execute(
        sa.update(proposal_comments)
        .where(proposal_comments.c.id == comment_id)
        .values(hidden_at=now, hidden_by=moderator.id, hidden_reason=reason)
    )
    connection.execute(
        sa.update(comment_reports)
        .where(comment_reports.c.comment_id == comment_id, comment_reports.c.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=moderator.id, resolution="hidden")
    )


def dismiss_report(
    connection: Connection, *, report_id: str, moderator: Principal, now: datetime
) -> None:
    """Close a report without hiding the comment."""
    _staff_only(moderator)
    changed = connection.execute(
        sa.update(comment_reports)
        .where(comment_reports.c.id == report_id, comment_reports.c.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=moderator.id, resolution="dismissed")
    ).rowcount
    if changed != 1:
        exists = connection.execute(
            sa.select(comment_reports.c.id).where(comment_reports.c.id == report_id)
        ).first()
        if exists is None:
            raise NotFound(f"No report {report_id!r}.", f"{report_id!r} 신고가 없습니다.")
        raise Conflict("The report is already resolved.", "이미 처리된 신고입니다.")


def report_queue(
    connection: Connection, *, moderator: Principal, open_only: bool = True
) -> list[dict[str, Any]]:
    """Return reports (open ones by default), oldest first, with the reported comment."""
    _staff_only(moderator)
    per_comment = (
        sa.select(comment_reports.c.comment_id, sa.func.count().label("n"))
        .group_by(comment_reports.c.comment_id)
        .subquery()
    )
    query = (
        sa.select(
            comment_reports,
            proposal_comments.c.body,
            proposal_comments.c.hidden_at,
            proposal_comments.c.proposal_id,
            per_comment.c.n,
        )
        .join(proposal_comments, proposal_comments.c.id == comment_reports.c.comment_id)
        .join(proposals, proposals.c.id == proposal_comments.c.proposal_id)
        .join(per_comment, per_comment.c.comment_id == comment_reports.c.comment_id)
        .order_by(comment_reports.c.created_at, comment_reports.c.id)
    )
    if open_only:
        query = query.where(comment_reports.c.resolved_at.is_(None))
    return [dict(row._mapping) for row in connection.execute(query)]
