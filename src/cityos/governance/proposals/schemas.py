"""Request and response bodies of the proposal API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Status = Literal["draft", "published", "under_review", "accepted", "rejected", "implemented"]
# Which status an operator's response may move a proposal to, from each status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset(),
    "published": frozenset({"published", "under_review", "rejected"}),
    "under_review": frozenset({"under_review", "accepted", "rejected"}),
    "accepted": frozenset({"accepted", "implemented"}),
    "rejected": frozenset({"rejected"}),
    "implemented": frozenset({"implemented"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Point(_Strict):
    """A GeoJSON Point (RFC 7946): ``coordinates`` = [longitude, latitude] in WGS84 degrees."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2, examples=[[127.289, 36.4801]])

    @model_validator(mode="after")
    def _in_range(self) -> Point:
        lon, lat = self.coordinates
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("coordinates must be [longitude, latitude] in degrees")
        return self


class ProposalCreate(_Strict):
    """A citizen's proposal."""

    title: str = Field(min_length=3, max_length=200, examples=["보람동 천변 산책로에 가로등 설치"])
    description: str = Field(min_length=10, max_length=10_000)
    location: Point
    publish: bool = Field(default=True, description="false keeps it a draft only you can see")


class ProposalUpdate(_Strict):
    """Changes to one's own draft (only the fields sent change)."""

    title: str | None = Field(default=None, min_length=3, max_length=200)
    description: str | None = Field(default=None, min_length=10, max_length=10_000)
    location: Point | None = None


class ZoneRef(BaseModel):
    """The eup/myeon/dong a proposal lies in."""

    code: str
    name_ko: str
    name_en: str


class ResponseRead(BaseModel):
    """An official response (or the automatic move to review at the threshold)."""

    id: str
    status_from: Status
    status_to: Status
    message_ko: str
    message_en: str
    department: str | None
    created_at: datetime
    created_at_local: str


class ProposalRead(BaseModel):
    """A proposal as shown (no author identity: ``by_me`` tells the caller their own)."""

    id: str
    title: str
    description: str
    location: Point
    zone: ZoneRef
    status: Status
    supports: int
    threshold: int
    supported_by_me: bool | None
    by_me: bool | None
    images: list[str] = Field(description="URLs of the proposal's images")
    responses: list[ResponseRead]
    created_at: datetime
    created_at_local: str
    published_at: datetime | None


class ProposalPage(BaseModel):
    """A list of proposals."""

    items: list[ProposalRead]


class ResponseCreate(_Strict):
    """An operator's official response; ``status`` moves the proposal (or keeps it)."""

    status: Status
    message_ko: str = Field(min_length=1, max_length=5000)
    message_en: str = Field(min_length=1, max_length=5000)


class CommentCreate(_Strict):
    """A comment on a proposal."""

    body: str = Field(min_length=1, max_length=2000)


class CommentRead(BaseModel):
    """A comment; a hidden one shows only why it was hidden."""

    id: str
    body: str | None
    by_me: bool | None
    by_proposer: bool
    created_at: datetime
    created_at_local: str
    hidden: bool
    hidden_reason: str | None


class ReasonCreate(_Strict):
    """Why a comment is reported, or hidden."""

    reason: str = Field(min_length=3, max_length=500)


class ReportRead(BaseModel):
    """A report in the moderation queue (operators)."""

    id: str
    comment_id: str
    proposal_id: str
    comment_body: str
    comment_hidden: bool
    reason: str
    reports_on_comment: int
    created_at: datetime
    created_at_local: str
    resolution: str | None


class ImageRead(BaseModel):
    """A stored image."""

    id: str
    url: str
    content_type: str
    width: int
    height: int
