"""Accounts and sessions: create and find users, log in (with lockout), refresh, log out.

Functions take an open ``Connection`` and run inside the caller's transaction, except the
two that must commit a record *before* refusing (a failed login, a replayed refresh token):
those take the ``Engine`` and manage their own transactions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cityos.config import Settings
from cityos.identity import audit, passwords, tokens
from cityos.identity.errors import (
    AccountDisabled,
    AccountLocked,
    Conflict,
    IdentityError,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotFound,
)
from cityos.identity.models import Principal, Role, User, refresh_tokens, sessions, users

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
# Names a stranger must not be able to register and then pass off as the city.
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "system", "cityos", "operator", "support", "sejong"}
)
USER_ROLES = frozenset(Role) - {Role.DEVICE}


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands back: a JWT access token and an opaque refresh token."""

    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str


def normalise_username(raw: str) -> str:
    """Return the canonical (lower-case) username or raise InvalidInput."""
    username = raw.strip().casefold()
    if not USERNAME.match(username):
        raise InvalidInput(
            "A username has 3-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            "사용자 이름은 3~32자의 영문 소문자, 숫자, '.', '_', '-'로 이루어지며 "
            "영문자나 숫자로 시작해야 합니다.",
        )
    return username


def check_roles(roles: Iterable[Role], department: str | None) -> frozenset[Role]:
    """Return the roles as a set, or raise InvalidInput for an impossible combination."""
    chosen = frozenset(roles)
    if not chosen:
        raise InvalidInput(
            "A user needs at least one role.", "사용자에게는 역할이 하나 이상 필요합니다."
        )
    if not chosen <= USER_ROLES:
        raise InvalidInput(
            "The 'device' role belongs to API keys, not to people.",
            "'device' 역할은 사람이 아닌 API 키에만 쓸 수 있습니다.",
        )
    if Role.OPERATOR in chosen and not (department and department.strip()):
        raise InvalidInput(
            "An operator needs a department (e.g. 교통과, 환경과, 보건소).",
            "공무원(operator) 역할에는 부서가 필요합니다 (예: 교통과, 환경과, 보건소).",
        )
    return chosen


def create_user(
    connection: Connection,
    *,
    username: str,
    password: str,
    roles: Iterable[Role],
    actor: str,
    now: datetime,
    display_name: str | None = None,
    department: str | None = None,
    allow_reserved: bool = False,
) -> User:
    """Create an account with an argon2id-hashed password and return it."""
    name = normalise_username(username)
    if name in RESERVED_USERNAMES and not allow_reserved:
        raise Conflict(
            f"The username {name!r} is reserved.", f"사용자 이름 {name!r}은(는) 예약되어 있습니다."
        )
    chosen = check_roles(roles, department)
    passwords.check_password_rules(password, username=name)
    if get_user_by_username(connection, username=name) is not None:
        raise Conflict(
            f"The username {name!r} is taken.", f"사용자 이름 {name!r}은(는) 이미 사용 중입니다."
        )
    user_id = str(uuid.uuid4())
    try:
        connection.execute(
            sa.insert(users).values(
                id=user_id,
                username=name,
                display_name=(display_name or name).strip()[:200] or name,
                password_hash=passwords.hash_password(password),
                roles=sorted(chosen),
                department=department.strip() if department else None,
                created_at=now,
                updated_at=now,
                disabled=False,
                failed_logins=0,
            )
        )
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(
            f"The username {name!r} is taken.", f"사용자 이름 {name!r}은(는) 이미 사용 중입니다."
        ) from exc
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action="user_created",
        reason="registration" if actor == f"user:{user_id}" else "account management",
        now=now,
        detail={"username": name, "roles": sorted(chosen)},
    )
    return get_user(connection, user_id=user_id)


def get_user(connection: Connection, *, user_id: str) -> User:
    """Return the user with this id or raise NotFound."""
    row = connection.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound("No such user.", "해당 사용자가 없습니다.")
    return User.from_row(row)


def get_user_by_username(connection: Connection, *, username: str) -> User | None:
    """Return the user with this (case-insensitive) username, or None."""
    row = connection.execute(
        sa.select(users).where(users.c.username == username.strip().casefold())
    ).first()
    return None if row is None else User.from_row(row)


def list_users(connection: Connection) -> list[User]:
    """Return every user, by username."""
    return [User.from_row(r) for r in connection.execute(sa.select(users).order_by("username"))]


def admin_exists(connection: Connection) -> bool:
    """Return True when any enabled account holds the admin role."""
    return any(Role.ADMIN in u.roles and not u.disabled for u in list_users(connection))


def add_role(connection: Connection, *, user_id: str, role: Role, now: datetime) -> User:
    """Give a user one more role (e.g. ``resident`` after verification) and return it."""
    user = get_user(connection, user_id=user_id)
    connection.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(roles=sorted(user.roles | {role}), updated_at=now)
    )
    return get_user(connection, user_id=user_id)


def login(
    engine: Engine, *, username: str, password: str, settings: Settings, now: datetime
) -> TokenPair:
    """Check a password, lock the account after too many failures, and open a session.

    Raises InvalidCredentials (wrong or unknown), AccountLocked (423, with Retry-After) or
    AccountDisabled; a failure is committed (counter, lock, audit) before it is raised.
    """
    refusal: IdentityError
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(users).where(users.c.username == username.strip().casefold())
        ).first()
        if row is None:
            passwords.verify_password(None, password)  # same cost as a real check
            raise InvalidCredentials(
                "Wrong username or password.", "사용자 이름 또는 비밀번호가 틀렸습니다."
            )
        user = User.from_row(row)
        if user.locked_until is not None and now < user.locked_until:
            refusal = _locked(user.locked_until, now)
            audit.record(
                connection,
                actor="anonymous",
                subject=user.id,
                action="login_refused_locked",
                reason="authentication",
                now=now,
            )
        elif not passwords.verify_password(row.password_hash, password):
            refusal = _record_failure(connection, user, settings=settings, now=now)
        elif user.disabled:
            raise AccountDisabled("This account is disabled.", "비활성화된 계정입니다.")
        else:
            values: dict[str, object] = {
                "failed_logins": 0,
                "locked_until": None,
                "last_login_at": now,
            }
            if passwords.needs_rehash(row.password_hash):
                values["password_hash"] = passwords.hash_password(password)
            connection.execute(sa.update(users).where(users.c.id == user.id).values(**values))
            audit.record(
                connection,
                actor=f"user:{user.id}",
                subject=user.id,
                action="login",
                reason="authentication",
                now=now,
            )
            return start_session(connection, user_id=user.id, settings=settings, now=now)
    raise refusal


def _locked(until: datetime, now: datetime) -> AccountLocked:
    seconds = max(1, int((until - now).total_seconds()) + 1)
    return AccountLocked(
        f"Too many failed logins: the account is locked for {seconds} more seconds.",
        f"로그인 실패가 너무 많아 계정이 잠겼습니다. {seconds}초 후에 다시 시도하세요.",
        headers={"Retry-After": str(seconds)},
    )


def _record_failure(
    connection: Connection, user: User, *, settings: Settings, now: datetime
) -> IdentityError:
    failures = user.failed_logins + 1
    if failures >= settings.login_max_failures:
        until = now + timedelta(minutes=settings.login_lockout_minutes)
        connection.execute(
            sa.update(users)
            .where(users.c.id == user.id)
            .values(failed_logins=0, locked_until=until)
        )
        audit.record(
            connection,
            actor="anonymous",
            subject=user.id,
            action="account_locked",
            reason="authentication",
            now=now,
            detail={"failures": failures},
        )
        return _locked(until, now)
    connection.execute(
        sa.update(users)
        .where(users.c.id == user.id)
        .values(failed_logins=users.c.failed_logins + 1)
    )
    audit.record(
        connection,
        actor="anonymous",
        subject=user.id,
        action="login_failed",
        reason="authentication",
        now=now,
    )
    return InvalidCredentials(
        "Wrong username or password.", "사용자 이름 또는 비밀번호가 틀렸습니다."
    )


def start_session(
    connection: Connection, *, user_id: str, settings: Settings, now: datetime
) -> TokenPair:
    """Open a session for a user and return its first token pair."""
    session_id = str(uuid.uuid4())
    expires = now + timedelta(days=settings.refresh_token_days)
    connection.execute(
        sa.insert(sessions).values(
            id=session_id, user_id=user_id, created_at=now, expires_at=expires
        )
    )
    return _issue(connection, user_id=user_id, session_id=session_id, settings=settings, now=now)


def _issue(
    connection: Connection, *, user_id: str, session_id: str, settings: Settings, now: datetime
) -> TokenPair:
    refresh = tokens.new_refresh_token()
    refresh_expires = now + timedelta(days=settings.refresh_token_days)
    connection.execute(
        sa.insert(refresh_tokens).values(
            id=str(uuid.uuid4()),
            session_id=session_id,
            token_hash=tokens.token_digest(refresh),
            created_at=now,
            expires_at=refresh_expires,
        )
    )
    connection.execute(
        sa.update(sessions).where(sessions.c.id == session_id).values(expires_at=refresh_expires)
    )
    access, access_expires = tokens.encode_access_token(
        secret_key=settings.secret_key,
        user_id=user_id,
        session_id=session_id,
        now=now,
        ttl=timedelta(minutes=settings.access_token_minutes),
    )
    return TokenPair(access, access_expires, refresh, refresh_expires, session_id)


def refresh(engine: Engine, *, refresh_token: str, settings: Settings, now: datetime) -> TokenPair:
    """Trade a refresh token for a new pair; the old one stops working (rotation).

    Presenting a refresh token that was already used means it was copied: the whole session
    is revoked (its access tokens too) and the refusal is committed before it is raised.
    """
    refused = InvalidCredentials(
        "The refresh token is not valid; log in again.",
        "리프레시 토큰이 유효하지 않습니다. 다시 로그인하세요.",
    )
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(refresh_tokens, sessions.c.user_id, sessions.c.revoked_at.label("ended"))
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_hash == tokens.token_digest(refresh_token))
        ).first()
        if row is None or row.ended is not None or row.revoked_at is not None:
            raise refused
        if row.used_at is not None:
            revoke_session(connection, session_id=row.session_id, reason="refresh_reuse", now=now)
            audit.record(
                connection,
                actor="anonymous",
                subject=row.user_id,
                action="refresh_token_reused",
                reason="authentication",
                now=now,
                detail={"session": row.session_id},
            )
        elif now >= row.expires_at:
            raise refused
        else:
            claimed = connection.execute(
                sa.update(refresh_tokens)
                .where(refresh_tokens.c.id == row.id, refresh_tokens.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            user = get_user(connection, user_id=row.user_id)
            if user.disabled:
                raise AccountDisabled("This account is disabled.", "비활성화된 계정입니다.")
            if claimed == 1:
                return _issue(
                    connection,
                    user_id=row.user_id,
                    session_id=row.session_id,
                    settings=settings,
                    now=now,
                )
    raise refused


def revoke_session(connection: Connection, *, session_id: str, reason: str, now: datetime) -> None:
    """End a session: its refresh tokens and (through the session check) access tokens die."""
    connection.execute(
        sa.update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    connection.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.session_id == session_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def logout(
    connection: Connection, *, principal: Principal, now: datetime, everywhere: bool = False
) -> int:
    """Revoke the caller's session (or all of their sessions); return how many ended."""
    if principal.kind != "user" or principal.session_id is None:
        raise InvalidInput(
            "Only a logged-in user can log out; revoke an API key instead.",
            "로그인한 사용자만 로그아웃할 수 있습니다. API 키는 폐기하세요.",
        )
    query = sa.select(sessions.c.id).where(sessions.c.revoked_at.is_(None))
    if everywhere:
        query = query.where(sessions.c.user_id == principal.id)
    else:
        query = query.where(sessions.c.id == principal.session_id)
    ended = list(connection.execute(query).scalars())
    for session_id in ended:
        revoke_session(connection, session_id=session_id, reason="logout", now=now)
    audit.record(
        connection,
        actor=principal.actor,
        subject=principal.id,
        action="logout",
        reason="authentication",
        now=now,
        detail={"sessions": len(ended)},
    )
    return len(ended)


def principal_for_access_token(
    connection: Connection, *, token: str, settings: Settings, now: datetime
) -> Principal:
    """Return the user behind a valid access token whose session is still open."""
    claims = tokens.decode_access_token(token, secret_key=settings.secret_key, now=now)
    row = connection.execute(
        sa.select(users, sessions.c.revoked_at.label("ended"))
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.id == claims.session_id, users.c.id == claims.user_id)
    ).first()
    if row is None or row.ended is not None:
        raise InvalidToken(
            "The session has ended; log in again.", "세션이 종료되었습니다. 다시 로그인하세요."
        )
    user = User.from_row(row)
    if user.disabled:
        raise AccountDisabled("This account is disabled.", "비활성화된 계정입니다.")
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        roles=user.roles,
        department=user.department,
        session_id=claims.session_id,
    )
