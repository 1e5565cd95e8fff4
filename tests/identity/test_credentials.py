"""Pure pieces: password hashing and rules, JWT encoding and expiry, key format and scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cityos.identity import key_allows, passwords, tokens
from cityos.identity.errors import InvalidInput, InvalidToken
from cityos.identity.keys import new_api_key, parse_scopes
from cityos.identity.models import ApiKey, KeyScopes, Role

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
SECRET = "a-test-secret"


def test_passwords_are_argon2id_salted_and_verified() -> None:
    first, second = (
        passwords.hash_password("서울 말고 세종 2026"),
        passwords.hash_password("서울 말고 세종 2026"),
    )
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert passwords.verify_password(first, "서울 말고 세종 2026")
    assert not passwords.verify_password(first, "서울 말고 세종 2027")
    assert not passwords.verify_password(None, "anything")
    assert not passwords.verify_password("not a hash", "anything")
    assert not passwords.needs_rehash(first)


@pytest.mark.parametrize("password", ["short", "x" * 300, "Minsu.Kim"])
def test_password_rules(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        passwords.check_password_rules(password, username="minsu.kim")
    assert caught.value.detail_ko


def test_access_token_round_trip_and_expiry() -> None:
    token, expires = tokens.encode_access_token(
        secret_key=SECRET, user_id="u1", session_id="s1", now=NOW, ttl=timedelta(minutes=15)
    )
    assert expires == NOW + timedelta(minutes=15)
    claims = tokens.decode_access_token(token, secret_key=SECRET, now=NOW + timedelta(minutes=14))
    assert (claims.user_id, claims.session_id) == ("u1", "s1")
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode_access_token(token, secret_key=SECRET, now=expires)
    with pytest.raises(InvalidToken):
        tokens.decode_access_token(token, secret_key="another-secret", now=NOW)


def test_tokens_of_another_kind_or_algorithm_are_refused() -> None:
    key = tokens.signing_key(SECRET)
    claims = {
        "iss": "cityos",
        "typ": "refresh",
        "sub": "u",
        "sid": "s",
        "jti": "j",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
    }
    wrong_type = jwt.encode(claims, key, algorithm="HS256")
    unsigned = jwt.encode(claims | {"typ": "access"}, None, algorithm="none")
    missing_session = jwt.encode({k: v for k, v in claims.items() if k != "sid"}, key)
    for token in (wrong_type, unsigned, missing_session, "", "a.b.c"):
        with pytest.raises(InvalidToken):
            tokens.decode_access_token(token, secret_key=SECRET, now=NOW)


def test_signing_key_is_derived_not_the_raw_secret() -> None:
    assert tokens.signing_key(SECRET) != SECRET.encode()
    assert len(tokens.signing_key("change-me")) == 32  # long enough for HS256 (RFC 7518 3.2)


def test_new_keys_are_unique_and_well_formed() -> None:
    made = {new_api_key() for _ in range(50)}
    assert len(made) == 50
    for key, prefix in made:
        assert key.startswith(f"cityos_{prefix}_")
        assert len(key) == len("cityos_") + 12 + 1 + 43


def _key(scopes: KeyScopes, revoked: bool = False) -> ApiKey:
    return ApiKey(
        id="k",
        prefix="0" * 12,
        name="k",
        role=Role.DEVICE,
        scopes=scopes,
        created_at=NOW,
        created_by=None,
        last_used_at=None,
        revoked_at=NOW if revoked else None,
    )


@pytest.mark.parametrize(
    ("tenant", "entity_type", "action", "allowed"),
    [
        ("sejong", "AirQualityObserved", "read", True),
        ("sejong", "AirQualityObserved", "write", True),
        ("open", "AirQualityObserved", "read", True),
        ("open", "WaterQualityObserved", "read", True),
        ("elsewhere", "AirQualityObserved", "read", False),
        ("sejong", "Vehicle", "read", False),
        ("sejong", "AirQualityObserved", "delete", False),
    ],
)
def test_key_allows(tenant: str, entity_type: str, action: str, allowed: bool) -> None:
    scopes = parse_scopes(
        "tenants=sejong,open;types=AirQualityObserved,WaterQualityObserved;actions=read,write"
    )
    assert key_allows(_key(scopes), tenant, entity_type, action) is allowed  # type: ignore[arg-type]


def test_wildcards_and_revocation() -> None:
    everything = KeyScopes(actions=frozenset({"read", "write"}))
    assert key_allows(_key(everything), "any", "Thing", "write")
    assert not key_allows(_key(everything, revoked=True), "any", "Thing", "read")
    assert not key_allows(_key(KeyScopes()), "any", "Thing", "write")  # default: read only


def test_parse_scopes() -> None:
    assert parse_scopes(None) == KeyScopes()
    assert parse_scopes("actions=write types=Streetlight") == KeyScopes(
        entity_types=frozenset({"Streetlight"}), actions=frozenset({"write"})
    )
    for bad in ("actions=delete", "colour=red", "tenants", "tenants="):
        with pytest.raises(InvalidInput):
            parse_scopes(bad)
