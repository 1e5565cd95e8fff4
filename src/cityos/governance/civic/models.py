"""The tables of polls and proposals (SQLAlchemy Core, mirroring migration 0009_civic).

Privacy (docs/privacy.md): who voted and what they voted are kept in two tables that share
nothing but the poll: ``governance_poll_voters`` (a pseudonym per voter, unique per poll: the
one-vote rule) and ``governance_poll_ballots`` (the choices, with a random id and no time).
Supports are kept under a pseudonym too. Results leave the database only as aggregates.
"""

from __future__ import annotations

import sqlalchemy as sa

from cityos.identity.models import ID, TIME

metadata = sa.MetaData()
PSEUDONYM = sa.String(64)

# A verified resident's home zone (eup/myeon/dong code), recorded by an operator.
residences = sa.Table(
    "governance_residences",
    metadata,
    sa.Column(
        "user_id", ID, sa.ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("zone_code", sa.String(10), nullable=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("verified_by", ID, nullable=False),
    sa.Column("verified_at", TIME, nullable=False),
    sa.Column("note", sa.String(500)),
)

polls = sa.Table(
    "governance_polls",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("title_ko", sa.String(200), nullable=False),
    sa.Column("title_en", sa.String(200), nullable=False),
    sa.Column("description_ko", sa.Text, nullable=False),
    sa.Column("description_en", sa.Text, nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),  # single | multiple | ranked
    sa.Column("max_choices", sa.Integer, nullable=False),
    sa.Column("options", sa.JSON, nullable=False),  # [{"id", "label_ko", "label_en"}]
    sa.Column("zones", sa.JSON, nullable=False),  # [] = every zone
    sa.Column("opens_at", TIME, nullable=False),
    sa.Column("closes_at", TIME, nullable=False),
    sa.Column("live_results", sa.Boolean, nullable=False),
    sa.Column("pulse", sa.Boolean, nullable=False),
    sa.Column("created_by", ID, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

poll_voters = sa.Table(
    "governance_poll_voters",
    metadata,
    sa.Column(
        "poll_id", ID, sa.ForeignKey("governance_polls.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("voter", PSEUDONYM, nullable=False),
    sa.UniqueConstraint("poll_id", "voter", name="uq_governance_poll_voters_one_vote"),
)

poll_ballots = sa.Table(
    "governance_poll_ballots",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "poll_id", ID, sa.ForeignKey("governance_polls.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("choices", sa.JSON, nullable=False),  # option ids, in rank order for ranked
)

proposals = sa.Table(
    "governance_proposals",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("author_id", ID, sa.ForeignKey("identity_users.id", ondelete="SET NULL")),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("zone_code", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("supports", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
    sa.Column("published_at", TIME),
)

proposal_supports = sa.Table(
    "governance_proposal_supports",
    metadata,
    sa.Column(
        "proposal_id",
        ID,
        sa.ForeignKey("governance_proposals.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("supporter", PSEUDONYM, nullable=False),
    sa.UniqueConstraint("proposal_id", "supporter", name="uq_governance_proposal_supports_one"),
)

proposal_images = sa.Table(
    "governance_proposal_images",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "proposal_id",
        ID,
        sa.ForeignKey("governance_proposals.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("content_type", sa.String(20), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

proposal_responses = sa.Table(
    "governance_proposal_responses",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "proposal_id",
        ID,
        sa.ForeignKey("governance_proposals.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, … per proposal: the order
    sa.Column("status_from", sa.String(20), nullable=False),
    sa.Column("status_to", sa.String(20), nullable=False),
    sa.Column("message_ko", sa.Text, nullable=False),
    sa.Column("message_en", sa.Text, nullable=False),
    sa.Column("responder_id", ID, nullable=False),
    sa.Column("department", sa.String(100)),
    sa.Column("created_at", TIME, nullable=False),
)

proposal_comments = sa.Table(
    "governance_proposal_comments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "proposal_id",
        ID,
        sa.ForeignKey("governance_proposals.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author_id", ID, sa.ForeignKey("identity_users.id", ondelete="SET NULL")),
    sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, … per proposal: the order
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("hidden_at", TIME),
    sa.Column("hidden_by", ID),
    sa.Column("hidden_reason", sa.String(500)),
)

comment_reports = sa.Table(
    "governance_comment_reports",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "comment_id",
        ID,
        sa.ForeignKey("governance_proposal_comments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("reporter_id", ID, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("resolved_at", TIME),
    sa.Column("resolved_by", ID),
    sa.Column("resolution", sa.String(20)),  # hidden | dismissed
    sa.UniqueConstraint("comment_id", "reporter_id", name="uq_governance_comment_reports_once"),
)
