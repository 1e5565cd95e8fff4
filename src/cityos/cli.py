"""The ``cityos`` command: run the platform, manage its database, report its version."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from cityos import __version__
from cityos._cli import DatabaseUrl
from cityos.config import Settings
from cityos.governance.classify.cli import complaints_app
from cityos.identity.cli import keys_app, users_app
from cityos.ingest.cli import ingest_app
from cityos.jobs_cli import jobs_app, privacy_app
from cityos.twin.cli import twin_app

app = typer.Typer(
    name="cityos",
    help="CityOS — an operating platform for a citizen-centred smart city "
    "(시민 중심 스마트시티 운영 플랫폼).",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands (데이터베이스 스키마).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(twin_app, name="twin")
app.add_typer(jobs_app, name="jobs")
app.add_typer(privacy_app, name="privacy")
app.add_typer(ingest_app, name="ingest")
app.add_typer(complaints_app, name="complaints")
console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    """Return settings from the environment with command-line overrides, or exit with why."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]설정 오류 / invalid setting:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def up(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000)")] = None,
    database_url: DatabaseUrl = None,
    no_twin: Annotated[
        bool,
        typer.Option(
            "--no-twin", help="Do not feed the twin's simulated sensors (트윈 라이브 모드 끄기)"
        ),
    ] = False,
    twin_speed: Annotated[
        float | None,
        typer.Option(
            help="Simulated minutes per real minute of the live twin (default 60: one "
            "simulated minute per second)"
        ),
    ] = None,
) -> None:
    """Run CityOS: migrate the database, load Sejong on first start, serve the API.

    Unless --no-twin, the digital twin plays a simulated day in accelerated time and feeds
    its sensors (traffic counters, car parks, buses) into the hub (docs/twin/live.md).
    """
    import uvicorn

    from cityos.app import create_app
    from cityos.twin.live import live_enabled

    if twin_speed is not None and not (0 < twin_speed <= 100_000):
        console.print(
            f"[red]잘못된 --twin-speed / invalid --twin-speed:[/red] {twin_speed} — "
            "0보다 크고 100000 이하인 값을 주세요 (예: 60은 실제 1초에 시뮬레이션 1분) / "
            "give a number > 0 and <= 100000 (e.g. 60: one simulated minute per second)"
        )
        raise typer.Exit(2)
    settings = _settings(
        host=host,
        port=port,
        database_url=database_url,
        twin_live="off" if no_twin else None,
        twin_speed=twin_speed,
    )
    _first_start(settings)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]CityOS {__version__}[/bold green] — {settings.backend}")
    console.print(f"  웹 / web         {base}/  (시민 / citizens: {base}/citizen)")
    console.print(f"  NGSI-LD   {base}/ngsi-ld/v1/entities?type=AdministrativeArea")
    console.print(f"  API 문서 / docs  {base}/docs")
    console.print(f"  상태 / health    {base}/healthz")
    if live_enabled(settings):
        console.print(
            f"  트윈 / twin      {base}/ngsi-ld/v1/entities?type=TrafficFlowObserved "
            f"(synthetic, {settings.twin_speed:g}x)"
        )
    from cityos._memory import limit_malloc_arenas
    from cityos.web import end_streams_soon

    limit_malloc_arenas()  # before the server starts its threads; see cityos._memory
    application = create_app(settings)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            end_streams_soon(application)  # open /web/live streams must not hold the stop
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    Server(config).run()


def _first_start(settings: Settings) -> None:
    """Migrate the database and, on the very first start, create and print the admin login."""
    from pathlib import Path

    from cityos import db
    from cityos.identity import ensure_admin

    db.upgrade(settings)
    engine = db.make_engine(settings)
    try:
        password = ensure_admin(settings, engine, Path("var"))
    finally:
        engine.dispose()
    if password is not None:
        console.print(
            "[bold yellow]관리자 계정을 만들었습니다 / admin account created[/bold yellow]: "
            f"username [bold]admin[/bold], password [bold]{password}[/bold]\n"
            "  (한 번만 표시됩니다. var/admin-password 에도 저장했습니다 / shown once; "
            "also saved to var/admin-password, mode 600)"
        )


@db_app.command("upgrade")
def db_upgrade(
    database_url: DatabaseUrl = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Migrate the database schema to the newest (or the given) revision."""
    from cityos import db

    settings = _settings(database_url=database_url)
    try:
        now = db.upgrade(settings, revision)
    except Exception as exc:  # noqa: BLE001 - report any driver error plainly
        console.print(f"[red]마이그레이션 실패 / migration failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"database at revision {now} ({settings.backend})")


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Print the database's schema revision."""
    from cityos import db

    settings = _settings(database_url=database_url)
    typer.echo(db.current_revision(settings) or "empty")


@app.command()
def version() -> None:
    """Print the CityOS version."""
    typer.echo(__version__)


def main() -> None:
    """Run the ``cityos`` command line."""
    app()
