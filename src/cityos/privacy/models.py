"""The personal-data table (SQLAlchemy Core, mirroring migration 0006) and its records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cityos.identity.models import TIME

metadata = sa.MetaData()

# subject: pseudonymous id (cityos.privacy.crypto.pseudonym); payload: AES-GCM ciphertext of
# the record's data, bound to (id, subject, kind, purpose); key_id: which key made it.
records = sa.Table(
    "privacy_records",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(100), nullable=False),
    sa.Column("recorded_at", TIME, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class PersonalRecord:
    """One decrypted record of a citizen's personal data."""

    id: str
    kind: str
    purpose: str
    recorded_at: datetime
    created_at: datetime
    created_by: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the record as the export shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "purpose": self.purpose,
            "recorded_at": self.recorded_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "data": self.data,
        }


def context_of(record_id: str, subject: str, kind: str, purpose: str) -> str:
    """Return the associated data a record's ciphertext is bound to."""
    return f"privacy_records|{record_id}|{subject}|{kind}|{purpose}"
