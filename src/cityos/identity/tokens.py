"""Access tokens (JWT, HS256, short-lived) and opaque refresh tokens (random, stored hashed).

Pure functions: the caller passes the current time, so expiry is tested with a clock rather
than by sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from cityos.identity.errors import InvalidToken

ALGORITHM = "HS256"
ISSUER = "cityos"


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says: who (user id), in which session, until when."""

    user_id: str
    session_id: str
    issued_at: datetime
    expires_at: datetime
    token_id: str


def signing_key(secret_key: str) -> bytes:
    """Return the JWT signing key derived from the deployment secret (HMAC-SHA256, 32 bytes).

    Deriving a key per purpose means the JWT key is never the raw secret that other
    features (pseudonymous ids, cookies) derive their own keys from.
    """
    return hmac.new(secret_key.encode(), b"cityos/identity/jwt/v1", hashlib.sha256).digest()


def encode_access_token(
    *, secret_key: str, user_id: str, session_id: str, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    """Return a signed access token and its expiry time (UTC)."""
    expires = now + ttl
    claims = {
        "iss": ISSUER,
        "typ": "access",
        "sub": user_id,
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, signing_key(secret_key), algorithm=ALGORITHM), expires


def decode_access_token(token: str, *, secret_key: str, now: datetime) -> AccessClaims:
    """Verify an access token's signature, issuer, type and expiry at ``now``; return its claims.

    PyJWT's own expiry check reads the wall clock; it is turned off and done here against
    ``now`` so an injected clock governs expiry everywhere.
    """
    try:
        claims = jwt.decode(
            token,
            signing_key(secret_key),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={
                "require": ["iss", "typ", "sub", "sid", "jti", "iat", "exp"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(
            "The access token is not valid.", "액세스 토큰이 유효하지 않습니다."
        ) from exc
    if claims["typ"] != "access" or not isinstance(claims["exp"], int | float):
        raise InvalidToken("The access token is not valid.", "액세스 토큰이 유효하지 않습니다.")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if now >= expires:
        raise InvalidToken(
            "The access token has expired; get a new one with the refresh token.",
            "액세스 토큰이 만료되었습니다. 리프레시 토큰으로 새 토큰을 받으세요.",
        )
    return AccessClaims(
        user_id=str(claims["sub"]),
        session_id=str(claims["sid"]),
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=expires,
        token_id=str(claims["jti"]),
    )


def new_refresh_token() -> str:
    """Return a new opaque refresh token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest under which a random token is stored.

    A plain hash suffices (no salt, no argon2): the tokens are 256-bit random, so there is
    nothing to guess, and a fast hash lets the database look them up by digest.
    """
    return hashlib.sha256(token.encode()).hexdigest()
