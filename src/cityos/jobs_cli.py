"""``cityos jobs …`` (periodic jobs) and ``cityos privacy …`` (data keys, retention).

Every command takes ``--database-url`` like ``cityos up`` and migrates the database first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import Engine
from starlette.datastructures import State

from cityos import jobs
from cityos._cli import DatabaseUrl, migrated_database
from cityos.config import Settings
from cityos.identity.cli import _print_rows, _time

jobs_app = typer.Typer(help="Periodic jobs (주기 작업).", no_args_is_help=True)
privacy_app = typer.Typer(
    help="Personal data: keys and retention (개인정보: 암호 키, 보존 기간).", no_args_is_help=True
)
console = Console(stderr=True)


@contextmanager
def _database(database_url: str | None) -> Iterator[tuple[Settings, Engine]]:
    """Yield the settings and an engine on the migrated database, or exit saying why."""
    with migrated_database(database_url, console) as pair:
        yield pair


@jobs_app.command("list")
def jobs_list(database_url: DatabaseUrl = None) -> None:
    """List the registered jobs: interval, last run, outcome, next due time."""
    with _database(database_url) as (_, engine), engine.connect() as connection:
        known = jobs.last_runs(connection)
    rows = []
    for job in jobs.JOBS:
        last = known.get(job.name)
        started = last.last_started_at if last else None
        rows.append(
            (
                job.name,
                str(job.every),
                _time(started),
                (last.last_status or "-") if last else "-",
                str(last.last_affected) if last and last.last_affected is not None else "-",
                _time(started + job.every) if started else "now",
            )
        )
    _print_rows(("job", "every", "last started", "status", "affected", "next due"), rows)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str | None, typer.Argument(help="The job to run (default: every job)")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run one job (or every job) now, whether due or not; exit 1 if one failed."""
    try:
        chosen = [jobs.find(name)] if name else list(jobs.JOBS)
    except KeyError as exc:
        console.print(f"[red]작업이 없습니다 / unknown job:[/red] {exc.args[0]}")
        raise typer.Exit(2) from exc
    failed = False
    with _database(database_url) as (settings, engine):
        from cityos.hub.store import open_store

        state = State()
        state.settings = settings
        state.store = open_store(settings)
        try:
            for job in chosen:
                context = jobs.JobContext(settings, engine, state, datetime.now(UTC))
                outcome = jobs.run_job(job, context, force=True)
                assert outcome is not None  # forced runs always run
                failed = failed or outcome.status == "failed"
                typer.echo(
                    f"{job.name}\t{outcome.status}\t{outcome.affected}\t{outcome.seconds:.3f}s"
                    + (f"\t{outcome.error}" if outcome.error else "")
                )
        finally:
            state.store.close()
            state.store.shutdown_executor()
    if failed:
        raise typer.Exit(1)


@privacy_app.command("status")
def privacy_status(database_url: DatabaseUrl = None) -> None:
    """Show how many records each data key encrypts, and any key that is missing."""
    from cityos.privacy.crypto import Vault
    from cityos.privacy.keys import key_usage

    with _database(database_url) as (settings, engine), engine.connect() as connection:
        usage = key_usage(connection)
    vault = Vault.from_settings(settings)
    known = [key_id for key_id, _ in vault.keyring.keys]
    rows = []
    for key_id in dict.fromkeys([*known, *usage]):
        state = "encrypts" if key_id == vault.keyring.current else "decrypts"
        if key_id not in known:
            state = "MISSING"
        rows.append((key_id, state, str(usage.get(key_id, 0))))
    _print_rows(("key id", "role", "records"), rows)
    missing = [key_id for key_id in usage if key_id not in known]
    if missing:
        console.print(
            f"[red]암호 키가 없어 읽을 수 없는 기록이 있습니다 / records under missing keys:[/red] "
            f"{', '.join(missing)} — put those keys back in CITYOS_DATA_KEYS"
        )
        raise typer.Exit(1)


@privacy_app.command("rotate-keys")
def privacy_rotate_keys(database_url: DatabaseUrl = None) -> None:
    """Re-encrypt every personal-data record under the first key of CITYOS_DATA_KEYS."""
    from cityos.privacy.crypto import DecryptionError, Vault
    from cityos.privacy.keys import rotate_keys

    with _database(database_url) as (settings, engine):
        vault = Vault.from_settings(settings)
        try:
            moved = rotate_keys(engine, vault=vault, now=datetime.now(UTC))
        except DecryptionError as exc:
            console.print(
                f"[red]다시 암호화하지 못했습니다 / re-encryption stopped:[/red] {exc} "
                "(records moved so far stay moved; fix the keys and run again)"
            )
            raise typer.Exit(1) from exc
    total = sum(moved.values())
    detail = ", ".join(f"{key_id}: {count}" for key_id, count in sorted(moved.items()))
    typer.echo(f"re-encrypted {total} records under {vault.keyring.current}" + (
        f" ({detail})" if detail else ""
    ))  # fmt: skip


@privacy_app.command("purge")
def privacy_purge(database_url: DatabaseUrl = None) -> None:
    """Erase personal data past its retention period now (what the hourly job does)."""
    from cityos.privacy.retention import purge_expired

    with _database(database_url) as (settings, engine):
        erased = purge_expired(engine, settings=settings, now=datetime.now(UTC))
    for kind, count in sorted(erased.items()):
        typer.echo(f"{kind}\t{count}")
    typer.echo(f"erased {sum(erased.values())} records")
