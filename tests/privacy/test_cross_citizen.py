"""Property: no sequence of API calls by a citizen reads another citizen's personal data.

Over the real HTTP routes (TestClient on the whole app, authentication on) and both
backends. Two victims hold personal data written through the privacy store (walking
rewards and health services write it that way), consents, an identifying display name, a
verification request and an access-log entry, each carrying a unique marker. Hypothesis
draws sequences of calls an attacking citizen can make — every route of the route × role
table a citizen may call, and the ones refused to a citizen, with bearer tokens, cookie
sessions and API-key guesses — whose parameters are drawn from everything the attacker
might know of the victims (user ids, usernames, record ids, verification ids, purposes,
pseudonyms). No response (body or headers) may contain a victim's marker or pseudonym.

The victims' own export contains every marker, so the check can fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import service
from cityos.identity.models import Role
from cityos.privacy import store
from cityos.privacy.crypto import Vault
from tests.privacy.conftest import NOW, PASSWORD

HUB_AUTH = "on"
PURPOSES = ("walking_rewards", "personalised_health")
OPEN = "urn:ngsi-ld:tenant:default"


@dataclass
class Victim:
    """A citizen whose data the attacker must never see."""

    id: str
    username: str
    markers: list[str]
    pseudonym: str
    record_ids: list[str] = field(default_factory=list)
    verification_id: str = ""


@dataclass
class World:
    """The running app, the victims, and the attacker's current credentials."""

    client: TestClient
    victims: list[Victim]
    attacker: str
    headers: dict[str, str]
    refresh_token: str
    engine: Engine

    def secrets(self) -> list[str]:
        return [s for v in self.victims for s in (*v.markers, v.pseudonym)]

    def known(self) -> list[str]:
        """Everything the attacker might know or guess about the victims."""
        # Not "..": the client normalises "/auth/me/consents/.." to "/auth/me/", which redirects
        # to DELETE /auth/me: the attacker deleting their own account, not a leak.
        values = [OPEN, "urn:ngsi-ld:tenant:privacy", "*", ".*", "%", "...", "me"]
        for v in self.victims:
            values += [v.id, v.username, v.verification_id, *v.record_ids, v.pseudonym[:16]]
        return values + list(PURPOSES)


def _login(client: TestClient, username: str) -> tuple[dict[str, str], str]:
    r = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}, r.json()["refresh_token"]


def _make_victim(client: TestClient, engine: Engine, settings: Settings, number: int) -> Victim:
    tag = uuid.uuid4().hex[:10]
    markers = [
        f"VICTIM{number}-{what}-{tag}" for what in ("NAME", "STEPS", "HEALTH", "CONSENT", "WHY")
    ]
    username = f"victim{number}-{tag}"
    vault = Vault.from_settings(settings)
    with engine.begin() as connection:
        user = service.create_user(
            connection, username=username, password=PASSWORD, display_name=markers[0],
            roles={Role.CITIZEN}, actor="test", now=NOW,
        )  # fmt: skip
    victim = Victim(user.id, username, markers, vault.subject(user.id))
    headers, _ = _login(client, username)
    for purpose in PURPOSES:
        r = client.post(
            "/auth/me/consents", headers=headers, json={"purpose": purpose, "version": markers[3]}
        )
        assert r.status_code == 201, r.text
    r = client.post("/auth/verifications", headers=headers, json={"evidence": {"note": "x"}})
    assert r.status_code == 201, r.text
    victim.verification_id = r.json()["id"]
    with store.transaction(engine) as connection:
        for kind, purpose, marker in (
            ("steps", PURPOSES[0], markers[1]),
            ("health", PURPOSES[1], markers[2]),
        ):
            victim.record_ids.append(
                store.put(
                    connection, vault=vault, settings=settings, user_id=user.id, kind=kind,
                    purpose=purpose, data={"value": marker}, actor="system", now=NOW,
                )
            )  # fmt: skip
        store.read(
            connection, vault=vault, user_id=user.id, kind="health", purpose=PURPOSES[1],
            actor="user:clinic", reason=markers[4], now=NOW,
        )  # fmt: skip
    return victim


@pytest.fixture(scope="module")
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    with TestClient(app) as client:
        from cityos.identity.dependencies import engine_for

        engine = engine_for(app)
        victims = [_make_victim(client, engine, settings, n) for n in (1, 2)]
        attacker = f"attacker-{uuid.uuid4().hex[:8]}"
        r = client.post("/auth/register", json={"username": attacker, "password": PASSWORD})
        assert r.status_code == 201, r.text
        headers, refresh = _login(client, attacker)
        yield World(client, victims, attacker, headers, refresh, engine)


def test_the_markers_are_findable_in_a_victims_own_export(world: World) -> None:
    victim = world.victims[0]
    headers, _ = _login(world.client, victim.username)
    text = world.client.get("/auth/me/data", headers=headers).text
    text += world.client.get("/auth/me/access-log", headers=headers).text
    assert all(marker in text for marker in victim.markers)


# One attacker step: (name, a value drawn from what the attacker knows, a free string).
Step = tuple[str, int, str]
ACTIONS = (
    "me", "audit", "consents", "give_consent", "withdraw_consent", "export", "access_log",
    "verify", "list_verifications", "approve", "reject", "keys", "revoke_key", "create_key",
    "login_victim", "refresh", "refresh_victim_cookie", "cookie_session", "logout_and_back",
    "delete_and_back", "register", "hub_query", "hub_entity", "hub_types", "hub_batch",
    "health", "metrics", "api_key_guess",
)  # fmt: skip
# What the first response of some steps must be: the caller's own data is served (200),
# staff and admin routes refuse a citizen (403), whatever the parameters.
EXPECTED = {
    "me": 200, "audit": 200, "consents": 200, "export": 200, "access_log": 200,
    "list_verifications": 200, "approve": 403, "reject": 403, "keys": 403, "revoke_key": 403,
    "create_key": 403, "metrics": 403, "hub_batch": 403, "api_key_guess": 401,
}  # fmt: skip
steps = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(min_value=0, max_value=1000),
        st.text(alphabet="abcdefghij_.-*", max_size=12),
    ),
    min_size=1,
    max_size=10,
)


def _do(world: World, step: Step) -> list[Any]:  # noqa: C901 - one branch per route
    action, pick, text = step
    client, h = world.client, world.headers
    value = world.known()[pick % len(world.known())]
    segment = quote(value, safe="")  # as a path segment
    tenant = {"NGSILD-Tenant": value if value.startswith("urn:") else OPEN}
    match action:
        case "me":
            return [client.get("/auth/me", headers=h)]
        case "audit":
            return [client.get("/auth/me/audit", headers=h, params={"limit": pick % 1001 + 1})]
        case "consents":
            return [client.get("/auth/me/consents", headers=h)]
        case "give_consent":
            return [
                client.post(
                    "/auth/me/consents", headers=h, json={"purpose": value, "version": text or "1"}
                )
            ]
        case "withdraw_consent":
            return [client.delete(f"/auth/me/consents/{segment}", headers=h)]
        case "export":
            return [client.get("/auth/me/data", headers=h)]
        case "access_log":
            return [client.get("/auth/me/access-log", headers=h)]
        case "verify":
            return [
                client.post("/auth/verifications", headers=h, json={"evidence": {"who": value}})
            ]
        case "list_verifications":
            state = ("pending", "approved", "rejected", None)[pick % 4]
            return [
                client.get(
                    "/auth/verifications", headers=h, params={"state": state} if state else {}
                )
            ]
        case "approve" | "reject":
            return [client.post(f"/auth/verifications/{segment}/{action}", headers=h)]
        case "keys":
            return [client.get("/auth/keys", headers=h)]
        case "revoke_key":
            return [client.delete(f"/auth/keys/{segment}", headers=h)]
        case "create_key":
            return [
                client.post(
                    "/auth/keys", headers=h, json={"name": text or "k", "role": "developer"}
                )
            ]
        case "login_victim":  # guessing a victim's password (and locking them out)
            victim = world.victims[pick % len(world.victims)]
            return [
                client.post(
                    "/auth/token", data={"username": victim.username, "password": text or "guess"}
                )
            ]
        case "refresh":
            r = client.post(
                "/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": world.refresh_token},
            )
            if r.status_code == 200:
                world.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                world.refresh_token = r.json()["refresh_token"]
            return [r]
        case "refresh_victim_cookie":  # a forged refresh cookie and CSRF token
            browser = TestClient(client.app)
            browser.cookies.set("cityos_refresh", value)
            browser.cookies.set("cityos_csrf", text or "x")
            return [browser.post("/auth/refresh", headers={"X-CSRF-Token": text or "x"})]
        case "cookie_session":  # the web app's way: cookies plus CSRF for writes
            browser = TestClient(client.app)
            r = browser.post("/auth/login", data={"username": world.attacker, "password": PASSWORD})
            csrf = {"X-CSRF-Token": r.json().get("csrf_token", "")}
            return [
                r,
                browser.get("/auth/me/data"),
                browser.get("/auth/me/access-log"),
                browser.post(
                    "/auth/me/consents",
                    headers=csrf,
                    json={"purpose": PURPOSES[pick % 2], "version": "2"},
                ),  # fmt: skip
            ]
        case "logout_and_back":
            r = client.post("/auth/logout", headers=h)
            world.headers, world.refresh_token = _login(client, world.attacker)
            return [r]
        case "delete_and_back":
            r = client.delete("/auth/me", headers=h)
            again = client.post(
                "/auth/register", json={"username": world.attacker, "password": PASSWORD}
            )
            world.headers, world.refresh_token = _login(client, world.attacker)
            return [r, again]
        case "register":  # taking a victim's name (or a name like it)
            return [
                client.post("/auth/register", json={"username": value[:60], "password": PASSWORD})
            ]
        case "hub_query":
            params = (
                {"type": "Person", "idPattern": ".*"}
                if pick % 2
                else {"q": f'name=="{value}"', "type": "Person"}
            )
            return [client.get("/ngsi-ld/v1/entities", headers=h | tenant, params=params)]
        case "hub_entity":
            return [
                client.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:Person:{segment}", headers=h | tenant)
            ]
        case "hub_types":
            return [
                client.get("/ngsi-ld/v1/types", headers=h | tenant),
                client.get("/ngsi-ld/v1/attributes", headers=h | tenant),
            ]
        case "hub_batch":
            body = [{"id": f"urn:ngsi-ld:Person:{value}", "type": "Person"}]
            return [
                client.post("/ngsi-ld/v1/entityOperations/upsert", headers=h | tenant, json=body)
            ]
        case "health":
            return [client.get("/healthz")]
        case "metrics":
            return [client.get("/metrics", headers=h)]
        case "api_key_guess":
            return [
                client.get("/auth/me/data", headers={"X-API-Key": f"cityos_{value[:12]}_{text}"})
            ]
    raise AssertionError(action)


@pytest.mark.slow
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_no_sequence_of_calls_by_a_citizen_reads_another_citizens_data(
    world: World, sequence: list[Step]
) -> None:
    secrets = world.secrets()
    for step in sequence:
        responses = _do(world, step)
        if step[0] in EXPECTED:  # the attacker really is logged in, and really refused
            assert responses[0].status_code == EXPECTED[step[0]], (step, responses[0].text)
        for response in responses:
            assert response.status_code < 500, (step, response.status_code, response.text)
            seen = response.text + repr(response.headers)
            leaked = [s for s in secrets if s in seen]
            assert not leaked, (step, response.request.url, leaked)
        still = world.client.get("/auth/me", headers=world.headers)
        assert still.status_code == 200, (step, [r.status_code for r in responses], still.text)
