"""The personal-data store: put, read, export, erase and re-encrypt a citizen's records.

Every function takes an open ``Connection`` and works in the caller's transaction, so the
audit entry and the data change commit together. Rules (PIPA art. 15-21, 37):

- records are stored under the citizen's pseudonymous id, the data encrypted
  (:mod:`cityos.privacy.crypto`); the user id is never stored with them;
- writing or reading for a purpose needs the citizen's unwithdrawn consent to that purpose
  (:func:`cityos.identity.consent.has_consent`), and a read returns only records collected
  for that purpose; a refusal is audited too;
- every read, export and erasure is written to the audit log: who (actor), whose (subject:
  the user id), what (kind, number of records), when, why (reason).

A refusal raises :class:`ConsentRequired`, which makes the caller's transaction roll back;
open it with :func:`transaction` so the refusal's audit entry is written again after the
rollback (a caller that catches the error and commits keeps the first one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cityos.config import Settings
from cityos.identity import audit
from cityos.identity.consent import has_consent
from cityos.identity.errors import Forbidden, IdentityError, InvalidInput
from cityos.observability import log
from cityos.privacy.crypto import DecryptionError, Vault
from cityos.privacy.models import PersonalRecord, context_of, records

# Audit actions of personal-data processing; GET /auth/me/access-log shows these.
READ, WRITTEN, EXPORTED, ERASED, REFUSED = (
    "personal_data_read",
    "personal_data_written",
    "personal_data_exported",
    "personal_data_erased",
    "personal_data_refused",
)
ACCESS_ACTIONS = frozenset({READ, WRITTEN, EXPORTED, ERASED, REFUSED})
_INSERT = sa.insert(records)


@dataclass(frozen=True)
class Refusal:
    """What the audit log says about a refused processing (who, whose, what, when, why)."""

    actor: str
    user_id: str
    purpose: str
    what: str
    now: datetime

    def record(self, connection: Connection) -> None:
        """Append the refusal to the audit log."""
        audit.record(
            connection,
            actor=self.actor,
            subject=self.user_id,
            action=REFUSED,
            reason=self.purpose,
            now=self.now,
            detail={"what": self.what, "why": "no consent"},
        )


class ConsentRequired(Forbidden):
    """The citizen has not consented to the purpose, or has withdrawn consent."""

    code = "consent_required"

    def __init__(self, detail: str, detail_ko: str, *, refusal: Refusal | None = None) -> None:
        super().__init__(detail, detail_ko)
        self.refusal = refusal


class PersonalDataUnavailable(IdentityError, DecryptionError):
    """A stored record cannot be decrypted (its data key is missing or it was altered): 503."""

    status = 503
    code = "personal_data_unavailable"


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """Open a transaction for personal-data processing; a refusal stays in the audit log.

    Use it instead of ``engine.begin()``: when :class:`ConsentRequired` escapes, the
    transaction is rolled back (nothing half-written) and the refusal is then recorded in a
    transaction of its own.
    """
    try:
        with engine.begin() as connection:
            yield connection
    except ConsentRequired as refused:
        if refused.refusal is not None:
            with engine.begin() as connection:
                refused.refusal.record(connection)
        raise


def known_kind(kind: str, settings: Settings) -> str:
    """Return ``kind`` if it has a retention period (every stored kind must), else refuse."""
    if kind not in settings.retention_days:
        kinds = ", ".join(sorted(settings.retention_days))
        raise InvalidInput(
            f"Unknown kind of personal data {kind!r}; known: {kinds}.",
            f"알 수 없는 개인정보 종류입니다: {kind!r} (가능: {kinds}).",
        )
    return kind


def _require_consent(
    connection: Connection, *, user_id: str, purpose: str, actor: str, what: str, now: datetime
) -> None:
    if has_consent(connection, user_id=user_id, purpose=purpose):
        return
    refusal = Refusal(actor=actor, user_id=user_id, purpose=purpose, what=what, now=now)
    refusal.record(connection)
    raise ConsentRequired(
        f"No consent to {purpose!r}: its personal data is not processed.",
        f"{purpose!r} 목적에 대한 동의가 없어 개인정보를 처리하지 않습니다.",
        refusal=refusal,
    )


def put(
    connection: Connection,
    *,
    vault: Vault,
    settings: Settings,
    user_id: str,
    kind: str,
    purpose: str,
    data: Mapping[str, Any],
    actor: str,
    now: datetime,
    recorded_at: datetime | None = None,
) -> str:
    """Store one record of a citizen's personal data (encrypted); return its id."""
    known_kind(kind, settings)
    if (recorded_at or now).tzinfo is None:
        raise InvalidInput(
            "recorded_at must carry a time zone (times are stored in UTC).",
            "recorded_at에는 시간대가 있어야 합니다(시각은 UTC로 저장합니다).",
        )
    _require_consent(connection, user_id=user_id, purpose=purpose, actor=actor, what=kind, now=now)
    record_id = str(uuid.uuid4())
    subject = vault.subject(user_id)
    try:
        payload = vault.keyring.encrypt_json(
            data, context=context_of(record_id, subject, kind, purpose)
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "Personal data must be a JSON object (strings, numbers, booleans, lists, objects).",
            "개인정보는 JSON 객체여야 합니다(문자열, 숫자, 참/거짓, 목록, 객체).",
        ) from exc
    connection.execute(
        _INSERT,
        {
            "id": record_id,
            "subject": subject,
            "kind": kind,
            "purpose": purpose,
            "recorded_at": recorded_at or now,
            "created_at": now,
            "created_by": actor,
            "key_id": vault.keyring.key_id_of(payload),
            "payload": payload,
        },
    )
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action=WRITTEN,
        reason=purpose,
        now=now,
        detail={"kind": kind, "records": 1},
    )
    return record_id


def decrypt_rows(vault: Vault, rows: Iterator[sa.Row[Any]]) -> list[PersonalRecord]:
    """Return ``privacy_records`` rows decrypted (no audit: callers audit what they show)."""
    found = []
    for row in rows:
        context = context_of(row.id, row.subject, row.kind, row.purpose)
        try:
            data = vault.keyring.decrypt_json(row.payload, context=context)
        except DecryptionError as exc:
            # The operators must act (put the key back, restore the record); say which record
            # and why, never any data. The caller gets a 503, not a traceback.
            log.error("personal_data_unreadable", record=row.id, key_id=row.key_id, why=str(exc))
            raise PersonalDataUnavailable(
                f"Personal data cannot be read right now: {exc}. Try again later.",
                "지금은 개인정보를 읽을 수 없습니다(암호 키 문제). 나중에 다시 시도하세요.",
            ) from exc
        found.append(
            PersonalRecord(
                id=row.id,
                kind=row.kind,
                purpose=row.purpose,
                recorded_at=row.recorded_at,
                created_at=row.created_at,
                created_by=row.created_by,
                data=data,
            )
        )
    return found


def read(
    connection: Connection,
    *,
    vault: Vault,
    user_id: str,
    kind: str,
    purpose: str,
    actor: str,
    reason: str,
    now: datetime,
    since: datetime | None = None,
) -> list[PersonalRecord]:
    """Return a citizen's records of a kind collected for a purpose, oldest first (audited).

    ``reason`` says why they are read (e.g. "monthly walking reward"); it goes to the audit
    log with the purpose.
    """
    _require_consent(connection, user_id=user_id, purpose=purpose, actor=actor, what=kind, now=now)
    query = (
        sa.select(records)
        .where(
            records.c.subject == vault.subject(user_id),
            records.c.kind == kind,
            records.c.purpose == purpose,
        )
        .order_by(records.c.recorded_at, records.c.id)
    )
    if since is not None:
        query = query.where(records.c.recorded_at >= since)
    found = decrypt_rows(vault, iter(connection.execute(query)))
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action=READ,
        reason=f"{purpose}: {reason}"[:500],
        now=now,
        detail={"kind": kind, "purpose": purpose, "records": len(found)},
    )
    return found


def export(
    connection: Connection, *, vault: Vault, user_id: str, actor: str, now: datetime
) -> list[PersonalRecord]:
    """Return every record of a citizen, decrypted (their right of access; audited)."""
    query = (
        sa.select(records)
        .where(records.c.subject == vault.subject(user_id))
        .order_by(records.c.recorded_at, records.c.id)
    )
    found = decrypt_rows(vault, iter(connection.execute(query)))
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action=EXPORTED,
        reason="data subject access (export)",
        now=now,
        detail={"records": len(found)},
    )
    return found


def erase(
    connection: Connection, *, vault: Vault, user_id: str, actor: str, reason: str, now: datetime
) -> int:
    """Delete every record of a citizen; return how many (audited)."""
    erased = connection.execute(
        sa.delete(records).where(records.c.subject == vault.subject(user_id))
    ).rowcount
    audit.record(
        connection,
        actor=actor,
        subject=user_id,
        action=ERASED,
        reason=reason,
        now=now,
        detail={"records": erased},
    )
    return int(erased)
