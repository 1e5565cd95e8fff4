"""Request and response bodies of the poll API (Korean and English text side by side)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SEOUL = ZoneInfo("Asia/Seoul")
Kind = Literal["single", "multiple", "ranked"]
State = Literal["upcoming", "open", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OptionCreate(_Strict):
    """One answer a voter may choose."""

    label_ko: str = Field(min_length=1, max_length=200, examples=["찬성"])
    label_en: str = Field(min_length=1, max_length=200, examples=["In favour"])


class PollCreate(_Strict):
    """A new poll (operators and administrators)."""

    title_ko: str = Field(min_length=1, max_length=200, examples=["조치원읍 공영주차장 위치"])
    title_en: str = Field(min_length=1, max_length=200, examples=["Jochiwon public car park site"])
    description_ko: str = Field(default="", max_length=5000)
    description_en: str = Field(default="", max_length=5000)
    kind: Kind = "single"
    max_choices: int | None = Field(
        default=None,
        ge=1,
        description="multiple: how many options a voter may tick (default: all); "
        "ranked: how many a voter may rank (default: all); single: 1.",
    )
    options: list[OptionCreate] = Field(min_length=2, max_length=20)
    zones: list[str] = Field(
        default_factory=list,
        max_length=24,
        description="eup/myeon/dong codes (GET /api/v1/zones) whose residents may vote; "
        "empty = every resident of Sejong.",
    )
    opens_at: AwareDatetime | None = Field(
        default=None, description="with a UTC offset; default now"
    )
    closes_at: AwareDatetime = Field(
        description="with a UTC offset, e.g. 2026-12-24T18:00:00+09:00"
    )
    live_results: bool = Field(default=False, description="show results while the poll is open")
    pulse: bool = Field(default=False, description="a one-question pulse survey for home pages")


class OptionRead(BaseModel):
    """An option as shown (``id`` is what a ballot names)."""

    id: int
    label_ko: str
    label_en: str


class PollRead(BaseModel):
    """A poll as shown; times in UTC and in Asia/Seoul (``*_local``)."""

    id: str
    title_ko: str
    title_en: str
    description_ko: str
    description_en: str
    kind: Kind
    max_choices: int
    options: list[OptionRead]
    zones: list[str]
    opens_at: datetime
    closes_at: datetime
    opens_at_local: str
    closes_at_local: str
    state: State
    live_results: bool
    pulse: bool
    has_voted: bool | None = Field(
        default=None, description="whether the caller has voted (null when not logged in)"
    )


class PollPage(BaseModel):
    """A list of polls."""

    items: list[PollRead]


class VoteCreate(_Strict):
    """A ballot: option ids; for ranked polls in order of preference, first = favourite."""

    choices: list[int] = Field(min_length=1, max_length=20, examples=[[2]])


class VoteReceipt(BaseModel):
    """What a voter gets back (never the choices: the ballot is secret)."""

    poll_id: str
    recorded: bool
    message: str
    message_ko: str


class OptionResult(BaseModel):
    """Votes for one option."""

    id: int
    label_ko: str
    label_en: str
    votes: int
    share: float = Field(description="votes / ballots (single, multiple) [0..1]")


class RoundRead(BaseModel):
    """One instant-runoff round."""

    round: int
    counts: dict[int, int]
    exhausted: int
    eliminated: int | None


class PollResults(BaseModel):
    """Aggregates only: no voter, no ballot is ever shown."""

    poll_id: str
    kind: Kind
    state: State
    ballots: int
    options: list[OptionResult]
    rounds: list[RoundRead] | None = None
    winner: int | None = None
    tied: list[int] = Field(default_factory=list)
    computed_at: datetime
    computed_at_local: str


class PulseRead(BaseModel):
    """The current pulse question for the caller's zone (``poll`` null when there is none)."""

    poll: PollRead | None
    zone_code: str | None


def local(moment: datetime) -> str:
    """Return an aware datetime as ISO 8601 in Asia/Seoul (KST, +09:00)."""
    return moment.astimezone(SEOUL).isoformat()
