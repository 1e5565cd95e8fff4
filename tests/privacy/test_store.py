"""The personal-data store on both backends: encryption at rest, pseudonyms, consent, audit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.identity import audit, consent
from cityos.identity.errors import InvalidInput
from cityos.identity.models import audit_log
from cityos.privacy import store
from cityos.privacy.crypto import DecryptionError, Vault, derive_key, pseudonym
from cityos.privacy.models import records
from cityos.privacy.store import ConsentRequired
from tests.privacy.conftest import NOW, make_citizen

WALK = "walking_rewards"
HEALTH = "personalised_health"


def _raw_rows(engine: Engine) -> list[str]:
    """Return every privacy_records row as the database holds it, as text."""
    with engine.connect() as connection:
        return [repr(tuple(row)) for row in connection.execute(sa.select(records))]


def _audit(engine: Engine, *, subject: str, action: str) -> list[sa.Row]:  # type: ignore[type-arg]
    with engine.connect() as connection:
        return connection.execute(
            sa.select(audit_log)
            .where(audit_log.c.subject == subject, audit_log.c.action == action)
            .order_by(audit_log.c.id)
        ).all()


def test_a_record_round_trips_and_the_database_holds_no_plaintext(
    engine: Engine, settings: Settings, vault: Vault
) -> None:
    citizen = make_citizen(engine, HEALTH, can_log_in=False)
    data = {"diagnosis": "고혈압 PLAINTEXT-MARKER-7731", "systolic_mmHg": 151}
    with store.transaction(engine) as connection:
        record_id = store.put(
            connection, vault=vault, settings=settings, user_id=citizen.id, kind="health",
            purpose=HEALTH, data=data, actor="user:clinic", now=NOW,
        )  # fmt: skip
    with engine.connect() as connection:
        found = store.read(
            connection, vault=vault, user_id=citizen.id, kind="health", purpose=HEALTH,
            actor="user:clinic", reason="test", now=NOW,
        )  # fmt: skip
    assert [(r.id, r.data) for r in found] == [(record_id, data)]
    raw = "\n".join(_raw_rows(engine))
    for secret in ("PLAINTEXT-MARKER-7731", "고혈압", "151", citizen.id, citizen.username):
        assert secret not in raw
    assert vault.subject(citizen.id) in raw  # stored under the pseudonym
    if settings.backend == "sqlite":  # not even in the file's pages
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database = Path(settings.sqlite_path)
        pages = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert b"PLAINTEXT-MARKER-7731" not in pages
        assert "고혈압".encode() not in pages


def test_a_ciphertext_moved_to_another_record_or_altered_does_not_decrypt(
    engine: Engine, settings: Settings, vault: Vault
) -> None:
    one, two = (make_citizen(engine, WALK, can_log_in=False) for _ in range(2))
    ids = []
    with store.transaction(engine) as connection:
        for who, steps in ((one, 9000), (two, 100)):
            ids.append(
                store.put(
                    connection,
                    vault=vault,
                    settings=settings,
                    user_id=who.id,
                    kind="steps",
                    purpose=WALK,
                    data={"steps": steps},
                    actor="system",
                    now=NOW,
                )  # fmt: skip
            )
    with engine.begin() as connection:
        payload = connection.execute(
            sa.select(records.c.payload).where(records.c.id == ids[0])
        ).scalar_one()
        # An insider copies one's 9,000 steps onto two's record: it must not read as two's.
        connection.execute(sa.update(records).where(records.c.id == ids[1]).values(payload=payload))
    with engine.connect() as connection, pytest.raises(DecryptionError):
        store.read(
            connection, vault=vault, user_id=two.id, kind="steps", purpose=WALK,
            actor="system", reason="test", now=NOW,
        )  # fmt: skip
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(DecryptionError):
        vault.keyring.decrypt(flipped, context="privacy_records|x")


def test_pseudonyms_are_stable_distinct_and_need_the_key(settings: Settings) -> None:
    # A deployment's own secret (test settings use the placeholder, which anyone knows: that
    # is why production mode refuses it).
    settings = settings.model_copy(update={"secret_key": secrets.token_urlsafe(48)})
    vault = Vault.from_settings(settings)
    user_ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(2000)]
    subjects = [vault.subject(u) for u in user_ids]
    assert subjects == [Vault.from_settings(settings).subject(u) for u in user_ids]  # stable
    assert len(set(subjects)) == len(subjects)  # distinct
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in subjects)
    # The same person under another label (e.g. open data) is not linkable to these.
    assert vault.subject(user_ids[0], label="open-data") != subjects[0]
    # Someone holding the table but not the key cannot map a pseudonym back to an id by
    # hashing candidate ids (plain SHA-256, an HMAC with an empty or the placeholder key) …
    target = subjects[1234]
    guesses = (
        lambda u: hashlib.sha256(u.encode()).hexdigest(),
        lambda u: pseudonym(u, key=b""),
        lambda u: pseudonym(u, key=derive_key("change-me", "cityos/privacy/pseudonym-key/v1")),
        lambda u: hmac.new(settings.secret_key.encode(), u.encode(), hashlib.sha256).hexdigest(),
    )
    assert not any(guess(u) == target for guess in guesses for u in user_ids)
    # … while with the key it is a lookup (which is why the key is a secret).
    assert user_ids[subjects.index(target)] == user_ids[1234]
    other = Vault.from_settings(settings.model_copy(update={"pseudonym_key": "another key"}))
    assert other.subject(user_ids[0]) != subjects[0]


def test_consent_gates_writing_and_reading_and_refusals_are_audited(
    engine: Engine, settings: Settings, vault: Vault
) -> None:
    citizen = make_citizen(engine, can_log_in=False)  # no consent yet

    def put(connection: sa.Connection, purpose: str = WALK) -> str:
        return store.put(
            connection, vault=vault, settings=settings, user_id=citizen.id, kind="steps",
            purpose=purpose, data={"steps": 4321}, actor="user:walking-service", now=NOW,
        )  # fmt: skip

    def read(connection: sa.Connection, purpose: str = WALK) -> list[store.PersonalRecord]:
        return store.read(
            connection, vault=vault, user_id=citizen.id, kind="steps", purpose=purpose,
            actor="user:walking-service", reason="monthly reward", now=NOW,
        )  # fmt: skip

    with pytest.raises(ConsentRequired), store.transaction(engine) as connection:
        put(connection)
    assert not any(vault.subject(citizen.id) in row for row in _raw_rows(engine))
    assert len(_audit(engine, subject=citizen.id, action=store.REFUSED)) == 1  # kept after rollback

    with engine.begin() as connection:
        consent.grant(connection, user_id=citizen.id, purpose=WALK, version="1", now=NOW)
    with store.transaction(engine) as connection:
        put(connection)
        with pytest.raises(ConsentRequired):
            put(connection, purpose=HEALTH)  # consent is per purpose
    with engine.connect() as connection:
        assert [r.data for r in read(connection)] == [{"steps": 4321}]

    with engine.begin() as connection:
        consent.withdraw(connection, user_id=citizen.id, purpose=WALK, now=NOW)
    with pytest.raises(ConsentRequired), store.transaction(engine) as connection:
        read(connection)
    with pytest.raises(ConsentRequired) as refused, store.transaction(engine) as connection:
        put(connection)
    assert refused.value.status == 403
    assert "walking_rewards" in refused.value.detail
    assert "동의" in refused.value.detail_ko
    refusals = _audit(engine, subject=citizen.id, action=store.REFUSED)
    assert len(refusals) == 4
    assert {r.actor for r in refusals} == {"user:walking-service"}
    assert [r.detail["why"] for r in refusals] == ["no consent"] * 4


def test_every_read_is_audited_with_who_whose_what_when_why(
    engine: Engine, settings: Settings, vault: Vault
) -> None:
    citizen = make_citizen(engine, WALK, can_log_in=False)
    with store.transaction(engine) as connection:
        for day in range(3):
            store.put(
                connection, vault=vault, settings=settings, user_id=citizen.id, kind="steps",
                purpose=WALK, data={"steps": 1000 * day}, actor="system",
                now=NOW, recorded_at=NOW - timedelta(days=day),
            )  # fmt: skip
    readers = ["user:reward-desk", "key:partner", "user:reward-desk"]
    for number, reader in enumerate(readers):
        with engine.begin() as connection:
            found = store.read(
                connection, vault=vault, user_id=citizen.id, kind="steps", purpose=WALK,
                actor=reader, reason=f"check {number}", now=NOW + timedelta(minutes=number),
                since=NOW - timedelta(days=1, hours=1),
            )  # fmt: skip
        assert [r.data["steps"] for r in found] == [1000, 0]  # oldest first, within `since`
    with engine.begin() as connection:
        store.export(connection, vault=vault, user_id=citizen.id, actor="user:me", now=NOW)
    reads = _audit(engine, subject=citizen.id, action=store.READ)
    assert [(r.actor, r.reason, r.at) for r in reads] == [
        (reader, f"{WALK}: check {n}", NOW + timedelta(minutes=n))
        for n, reader in enumerate(readers)
    ]
    assert all(r.detail == {"kind": "steps", "purpose": WALK, "records": 2} for r in reads)
    (exported,) = _audit(engine, subject=citizen.id, action=store.EXPORTED)
    assert exported.detail == {"records": 3}
    with engine.connect() as connection:
        assert all(e.subject == citizen.id for e in audit.entries(connection, subject=citizen.id))


def test_bad_input_is_refused_clearly_and_nothing_is_written(
    engine: Engine, settings: Settings, vault: Vault
) -> None:
    citizen = make_citizen(engine, WALK, can_log_in=False)
    before = len(_raw_rows(engine))
    bad = [
        ({"kind": "dna"}, "Unknown kind"),
        ({"data": {"when": NOW}}, "JSON object"),
        ({"data": {"x": float("nan")}}, "JSON object"),
        ({"recorded_at": NOW.replace(tzinfo=None)}, "time zone"),
    ]
    for change, message in bad:
        arguments = {"kind": "steps", "data": {"steps": 1}} | change
        with pytest.raises(InvalidInput) as refused, store.transaction(engine) as connection:
            store.put(
                connection, vault=vault, settings=settings, user_id=citizen.id, purpose=WALK,
                actor="system", now=NOW, **arguments,  # type: ignore[arg-type]
            )  # fmt: skip
        assert message in refused.value.detail
        assert refused.value.detail_ko
    assert len(_raw_rows(engine)) == before
