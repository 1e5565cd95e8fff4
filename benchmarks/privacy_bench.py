"""Measure what privacy costs: the personal-data store against plain inserts, on both backends.

For each backend, on a fresh database: store ``--records`` step-count records through
``cityos.privacy.store.put`` (consent check, pseudonym, AES-GCM, audit entry) in batches of
100 per transaction, and the same rows as plain JSON through ``executemany`` into a scratch
table of the same shape (no encryption, no consent, no audit) — the ratio is the price of
privacy. Then: a year of one citizen's steps read back (365 records, decrypted, audited),
key rotation, and the retention purge. Pure AES-GCM cost is measured once.

    .venv/bin/python benchmarks/privacy_bench.py                  # both backends, 20,000 records
    .venv/bin/python benchmarks/privacy_bench.py --backend sqlite --records 5000 --no-record

Results are printed as a table and appended to ``docs/benchmarks.md`` with date, machine and
commit. The machine is shared and noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.hub_bench import commit, machine  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402

from cityos import db  # noqa: E402
from cityos.config import Settings  # noqa: E402
from cityos.identity import consent  # noqa: E402
from cityos.identity.models import users  # noqa: E402
from cityos.privacy import store  # noqa: E402
from cityos.privacy.crypto import Vault  # noqa: E402
from cityos.privacy.keys import rotate_keys  # noqa: E402
from cityos.privacy.retention import purge_expired  # noqa: E402

console = Console()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BATCH = 100
CITIZENS = 200
PURPOSE = "walking_rewards"


def _key(key_id: str) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


def _steps(day: datetime) -> dict[str, object]:
    return {"steps": 8123, "day": day.date().isoformat()}


def _citizens(engine: sa.Engine, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with engine.begin() as connection:
        for user_id in ids:
            connection.execute(
                sa.insert(users).values(
                    id=user_id, username=f"b{user_id[:12]}", display_name="b",
                    password_hash="!", roles=["citizen"], created_at=NOW, updated_at=NOW,
                    disabled=False, failed_logins=0,
                )
            )  # fmt: skip
            consent.grant(connection, user_id=user_id, purpose=PURPOSE, version="1", now=NOW)
    return ids


def bench_backend(backend: str, count: int) -> list[tuple[str, str, str]]:
    """Run every measure on a fresh database of one backend; return (measure, result, notes)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db" if backend == "sqlite" else create_pg_database()
        try:
            return _measure(Settings(database_url=url, mode="test", data_keys=[_key("k1")]), count)
        finally:
            if backend != "sqlite":
                drop_pg_database(url)


def _measure(settings: Settings, count: int) -> list[tuple[str, str, str]]:
    db.upgrade(settings)
    engine = db.make_engine(settings)
    rows: list[tuple[str, str, str]] = []
    try:
        citizens = _citizens(engine, CITIZENS)
        vault = Vault.from_settings(settings)
        plan = [
            (citizens[n % CITIZENS], NOW - timedelta(days=n % 800, hours=n % 24))
            for n in range(count)
        ]
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            with store.transaction(engine) as connection:
                for user_id, day in plan[start : start + BATCH]:
                    store.put(
                        connection, vault=vault, settings=settings, user_id=user_id,
                        kind="steps", purpose=PURPOSE, data=_steps(day), actor="system",
                        now=NOW, recorded_at=day,
                    )  # fmt: skip
        put_rate = count / (time.perf_counter() - started)

        plain = sa.Table(
            "bench_plain",
            sa.MetaData(),
            *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in store.records.columns],
        )
        plain.create(engine)
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            with engine.begin() as connection:
                connection.execute(
                    sa.insert(plain),
                    [
                        {
                            "id": str(uuid.uuid4()), "subject": user_id, "kind": "steps",
                            "purpose": PURPOSE, "recorded_at": day, "created_at": NOW,
                            "created_by": "system", "key_id": "-",
                            "payload": orjson.dumps(_steps(day)).decode(),
                        }
                        for user_id, day in plan[start : start + BATCH]
                    ],
                )  # fmt: skip
        plain_rate = count / (time.perf_counter() - started)
        rows.append(
            (
                f"store.put, {BATCH} per transaction",
                f"{put_rate:,.0f} records/s",
                f"plain executemany of the same rows {plain_rate:,.0f}/s; store/plain = "
                f"{put_rate / plain_rate:.2f} (consent check, HMAC, AES-GCM, audit row each)",
            )
        )

        year = _citizens(engine, 1)[0]
        with store.transaction(engine) as connection:
            for day in range(365):
                store.put(
                    connection, vault=vault, settings=settings, user_id=year, kind="steps",
                    purpose=PURPOSE, data={"steps": day}, actor="system", now=NOW,
                    recorded_at=NOW - timedelta(days=day),
                )  # fmt: skip
        times = []
        for _ in range(30):
            started = time.perf_counter()
            with store.transaction(engine) as connection:
                found = store.read(
                    connection, vault=vault, user_id=year, kind="steps", purpose=PURPOSE,
                    actor="system", reason="bench", now=NOW,
                )  # fmt: skip
            times.append((time.perf_counter() - started) * 1000)
        assert len(found) == 365
        rows.append(
            (
                "read a year of one citizen's steps (365 records)",
                f"{statistics.median(times):.1f} ms median",
                f"p95 {sorted(times)[int(len(times) * 0.95) - 1]:.1f} ms; decrypt + one audit row",
            )
        )

        rotated = Vault.from_settings(
            settings.model_copy(update={"data_keys": [_key("k2"), *settings.data_keys]})
        )
        started = time.perf_counter()
        moved = sum(rotate_keys(engine, vault=rotated, now=NOW).values())
        rate = moved / (time.perf_counter() - started)
        rows.append(
            ("rotate-keys", f"{rate:,.0f} records/s", f"{moved:,} records, 500 per transaction")
        )

        started = time.perf_counter()
        erased = sum(purge_expired(engine, settings=settings, now=NOW).values())
        seconds = time.perf_counter() - started
        rows.append(
            (
                "retention purge",
                f"{seconds * 1000:,.0f} ms",
                f"{erased:,} of {count + 365:,} records past 730 days erased",
            )
        )
    finally:
        engine.dispose()
    return rows


def aes_cost() -> tuple[str, str, str]:
    """Return the pure cost of encrypting and decrypting one record [µs]."""
    keyring = Vault.from_settings(Settings(mode="test", data_keys=[_key("k1")])).keyring
    data = {"steps": 8123, "day": "2026-12-01"}
    n = 20_000
    started = time.perf_counter()
    sealed = [keyring.encrypt_json(data, context="c") for _ in range(n)]
    encrypt = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for item in sealed:
        keyring.decrypt_json(item, context="c")
    decrypt = (time.perf_counter() - started) / n * 1e6
    return (
        "AES-256-GCM, one small record",
        f"{encrypt:.1f} µs / {decrypt:.1f} µs",
        "encrypt / decrypt incl. JSON",
    )


def main() -> None:
    """Run the benchmark, print it and append it to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = {"crypto": [aes_cost()]}
    for backend in backends:
        console.rule(f"{backend}: {args.records:,} records")
        results[backend] = bench_backend(backend, args.records)
    lines = []
    for name, rows in results.items():
        table = Table("measure", "result", "notes", title=name)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        lines += [f"### {name}", "", "| measure | result | notes |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]
    if not args.no_record:
        stamp = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M KST")
        head = [
            f"## privacy_bench — {stamp}",
            "",
            f"- machine: {machine()}",
            f"- commit: {commit()}",
            f"- {args.records:,} step-count records over {CITIZENS} citizens; in-process (no HTTP)",
            "",
        ]
        path = ROOT / "docs" / "benchmarks.md"
        with path.open("a") as handle:
            handle.write("\n".join(["", *head, *lines]))
        console.print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
