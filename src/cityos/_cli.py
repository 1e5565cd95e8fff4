"""What the ``cityos`` sub-commands share: the ``--database-url`` option and a migrated engine.

Every command that touches the database takes ``--database-url`` like ``cityos up``,
migrates the database first, and exits with a bilingual reason instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://user@host/db (default: CITYOS_DATABASE_URL, "
        "else sqlite:///var/cityos.db)",
    ),
]


@contextmanager
def migrated_database(
    database_url: str | None,
    console: Console,
    *,
    reported: tuple[type[Exception], ...] = (),
) -> Iterator[tuple[Settings, Engine]]:
    """Yield the settings and an engine on the migrated database, or exit saying why.

    Exit code 2 for a bad setting, 1 for a failed migration or one of the ``reported``
    errors raised inside (their ``detail_ko`` and ``detail`` are printed, no traceback).
    """
    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]설정 오류 / invalid setting:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        db.upgrade(settings)
    except Exception as exc:  # noqa: BLE001 - report any driver error plainly
        console.print(f"[red]마이그레이션 실패 / migration failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    engine = db.make_engine(settings)
    try:
        yield settings, engine
    except reported as exc:
        detail_ko = getattr(exc, "detail_ko", "")
        detail = getattr(exc, "detail", str(exc))
        console.print(f"[red]{detail_ko}[/red]\n[red]{detail}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
