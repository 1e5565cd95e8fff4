"""Zones and residents' home zones: ``/api/v1/zones`` and ``/api/v1/residences``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from cityos.governance.civic import residence
from cityos.governance.civic._http import civic_router
from cityos.governance.civic.zones import all_zones
from cityos.identity._routing import user_only
from cityos.identity.dependencies import CurrentUser, Identity, StaffUser

zones_router = civic_router("/api/v1/zones", "polls")
residences_router = civic_router("/api/v1/residences", "polls")


class ZoneRead(BaseModel):
    """One eup/myeon/dong of Sejong; ``population`` from the twin's zone table (synthetic)."""

    code: str
    name_ko: str
    name_en: str
    kind: str
    population: int


class ResidenceSet(BaseModel):
    """An operator's record of where a verified resident lives."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    zone_code: str = Field(min_length=1, max_length=10, examples=["36110101"])
    note: str | None = Field(default=None, max_length=500)


class ResidenceRead(BaseModel):
    """A verified resident's home zone."""

    user_id: str
    zone_code: str
    zone_name_ko: str
    zone_name_en: str
    method: str
    verified_at: datetime


def _read(found: residence.Residence) -> ResidenceRead:
    zone = {z.code: z for z in all_zones()}[found.zone_code]
    return ResidenceRead(
        user_id=found.user_id,
        zone_code=found.zone_code,
        zone_name_ko=zone.name_ko,
        zone_name_en=zone.name_en,
        method=found.method,
        verified_at=found.verified_at,
    )


@zones_router.get("", summary="Sejong's 24 eup/myeon/dong")
def list_zones() -> list[ZoneRead]:
    """Return the zones polls can be limited to, with their residents (twin data)."""
    return [ZoneRead(**z.__dict__) for z in all_zones()]


@residences_router.get("/me", summary="My home zone")
def my_residence(principal: CurrentUser, identity: Identity) -> ResidenceRead:
    """Return the caller's recorded home zone (404 when none is recorded)."""
    user_id = user_only(principal)
    with identity.engine.connect() as connection:
        return _read(residence.get_residence(connection, user_id=user_id))


@residences_router.put("/{user_id}", summary="Record a verified resident's home zone (operators)")
def set_residence(
    user_id: str, body: ResidenceSet, principal: StaffUser, identity: Identity
) -> ResidenceRead:
    """Record or move the home zone of a user who holds the ``resident`` role."""
    with identity.engine.begin() as connection:
        found = residence.set_residence(
            connection,
            user_id=user_id,
            zone_code=body.zone_code,
            operator=principal,
            now=identity.now,
            note=body.note,
        )
    return _read(found)


def routers() -> list[APIRouter]:
    """Return the routers of zones, residences, polls and proposals (for ``create_app``)."""
    from cityos.governance.polls.api import router as polls_router
    from cityos.governance.proposals.api import router as proposals_router
    from cityos.governance.proposals.api import uploads_router

    return [zones_router, residences_router, polls_router, proposals_router, uploads_router]


def install(app: FastAPI) -> None:
    """Mount the zone, residence, poll and proposal routes on ``app``."""
    for router in routers():
        app.include_router(router)


def stop(app: FastAPI) -> None:
    """End the open live-result streams (the application is stopping)."""
    feed = getattr(app.state, "poll_feed", None)
    if feed is not None:
        feed.close()
