"""Data-key rotation: which keys the stored records use, and moving them to the newest key.

Procedure (``docs/privacy.md``): put a new key *first* in ``CITYOS_DATA_KEYS`` (keeping the
old ones after it), restart, run ``cityos privacy rotate-keys``; when
``cityos privacy status`` shows no record under an old key, remove that key. Records are
decrypted and encrypted again in memory, a batch per transaction, so a rotation of a large
store neither holds one long transaction nor leaves a record half-written; it can be stopped
and run again at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cityos.identity import audit
from cityos.privacy.crypto import Vault
from cityos.privacy.models import context_of, records

ROTATION_BATCH = 500


def key_usage(connection: Connection) -> dict[str, int]:
    """Return how many records each data key id encrypts."""
    query = sa.select(records.c.key_id, sa.func.count()).group_by(records.c.key_id)
    return {key_id: int(count) for key_id, count in connection.execute(query)}


def unreadable_key_ids(connection: Connection, *, vault: Vault) -> list[str]:
    """Return the key ids stored records use that the keyring lacks (their data is lost)."""
    known = {key_id for key_id, _ in vault.keyring.keys}
    return sorted(set(key_usage(connection)) - known)


def reencrypt_batch(connection: Connection, *, vault: Vault, batch_size: int) -> dict[str, int]:
    """Move up to ``batch_size`` records not under the newest key to it; return counts per old key.

    Raises :class:`~cityos.privacy.crypto.DecryptionError` for a record whose key is gone or
    whose ciphertext was altered (nothing of the batch is written: the caller rolls back).
    """
    current = vault.keyring.current
    rows = connection.execute(
        sa.select(records)
        .where(records.c.key_id != current)
        .order_by(records.c.id)
        .limit(batch_size)
    ).all()
    moved: dict[str, int] = {}
    changes = []
    for row in rows:
        context = context_of(row.id, row.subject, row.kind, row.purpose)
        plaintext = vault.keyring.decrypt(row.payload, context=context)
        changes.append(
            {
                "record": row.id,
                "old_key": row.key_id,
                "new_payload": vault.keyring.encrypt(plaintext, context=context),
                "new_key": current,
            }
        )
        moved[row.key_id] = moved.get(row.key_id, 0) + 1
    if changes:
        connection.execute(_MOVE, changes)  # one executemany per batch
    return moved


# The record must still be under the key it was read with (a concurrent rotation moved it).
_MOVE = (
    sa.update(records)
    .where(records.c.id == sa.bindparam("record"), records.c.key_id == sa.bindparam("old_key"))
    .values(payload=sa.bindparam("new_payload"), key_id=sa.bindparam("new_key"))
)


def rotate_keys(
    engine: Engine,
    *,
    vault: Vault,
    now: datetime,
    batch_size: int = ROTATION_BATCH,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Re-encrypt every record under the newest key; return how many moved from each old key.

    One transaction per batch; one ``personal_data_reencrypted`` audit entry (counts only,
    no one named) when anything moved. ``progress`` is called with the running total.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total: dict[str, int] = {}
    while True:
        with engine.begin() as connection:
            moved = reencrypt_batch(connection, vault=vault, batch_size=batch_size)
        if not moved:
            break
        for key_id, count in moved.items():
            total[key_id] = total.get(key_id, 0) + count
        if progress is not None:
            progress(sum(total.values()))
    if total:
        with engine.begin() as connection:
            audit.record(
                connection,
                actor="system",
                action="personal_data_reencrypted",
                reason="data key rotation",
                now=now,
                detail={"to": vault.keyring.current, "from": total},
            )
    return total
