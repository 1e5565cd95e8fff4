"""Resident verification: the development verifier, an operator's decision, a plugged verifier."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest
from fastapi.testclient import TestClient

from cityos.identity.models import Role, User
from cityos.identity.verification import ResidentVerifier, VerifierAnswer
from tests.identity.conftest import Clock, bearer, login


def test_operator_approves_a_pending_request(
    api: TestClient, make_user: Callable[..., str], clock: Clock
) -> None:
    citizen = bearer(login(api, make_user()))
    r = api.post("/auth/verifications", headers=citizen, json={"evidence": {"address": "어진동"}})
    assert r.status_code == 201, r.text
    request = r.json()
    assert (request["state"], request["method"], request["decided_at"]) == (
        "pending",
        "development",
        None,
    )
    again = api.post("/auth/verifications", headers=citizen)
    assert again.status_code == 409
    assert api.get("/auth/verifications", headers=citizen).json() == [request]

    operator_name = make_user(Role.OPERATOR, department="민원과")
    operator = bearer(login(api, operator_name))
    pending = api.get("/auth/verifications?state=pending", headers=operator).json()
    assert request["id"] in {p["id"] for p in pending}
    assert (
        api.post(f"/auth/verifications/{request['id']}/approve", headers=citizen).status_code == 403
    )
    clock.advance(minutes=2)
    decided = api.post(
        f"/auth/verifications/{request['id']}/approve",
        headers=operator,
        json={"note": "주민등록 확인"},
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["state"] == "approved"
    assert body["decided_at"] is not None
    assert body["decided_at"] > body["requested_at"]
    operator_id = api.get("/auth/me", headers=operator).json()["id"]
    assert body["decided_by"] == operator_id
    assert body["note"] == "주민등록 확인"
    assert "resident" in api.get("/auth/me", headers=citizen).json()["roles"]
    twice = api.post(f"/auth/verifications/{request['id']}/reject", headers=operator)
    assert twice.status_code == 409
    assert api.post("/auth/verifications", headers=citizen).status_code == 409  # already resident


def test_rejection_and_no_self_approval(api: TestClient, make_user: Callable[..., str]) -> None:
    operator = bearer(login(api, make_user(Role.OPERATOR, department="민원과")))
    own = api.post("/auth/verifications", headers=operator).json()
    refused = api.post(f"/auth/verifications/{own['id']}/approve", headers=operator)
    assert refused.status_code == 403
    assert refused.json()["detail_ko"]
    citizen = bearer(login(api, make_user()))
    request = api.post("/auth/verifications", headers=citizen).json()
    rejected = api.post(f"/auth/verifications/{request['id']}/reject", headers=operator)
    assert rejected.json()["state"] == "rejected"
    assert "resident" not in api.get("/auth/me", headers=citizen).json()["roles"]
    assert api.post("/auth/verifications", headers=citizen).status_code == 201  # may try again
    assert api.post("/auth/verifications/none/approve", headers=operator).status_code == 404


class ImmediateVerifier:
    """Stands in for a national identity-verification service that answers at once."""

    method = "test-national-id"

    def begin(self, *, user: User, evidence: Mapping[str, str]) -> VerifierAnswer:
        return VerifierAnswer(state="approved", reference=f"tx-{user.username}")


@pytest.fixture
def immediate_verifier(api: TestClient) -> Iterator[None]:
    verifier: ResidentVerifier = ImmediateVerifier()
    api.app.state.resident_verifier = verifier  # type: ignore[attr-defined]
    yield
    api.app.state.resident_verifier = None  # type: ignore[attr-defined]


@pytest.mark.usefixtures("immediate_verifier")
def test_a_plugged_verifier_decides_at_once(api: TestClient, make_user: Callable[..., str]) -> None:
    citizen = bearer(login(api, make_user()))
    body = api.post("/auth/verifications", headers=citizen).json()
    assert (body["state"], body["method"], body["decided_by"]) == (
        "approved",
        "test-national-id",
        "verifier:test-national-id",
    )
    assert "resident" in api.get("/auth/me", headers=citizen).json()["roles"]
