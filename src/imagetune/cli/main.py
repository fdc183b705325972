"""Top-level commands: serve, db, and the users/keys groups."""

from __future__ import annotations

from typing import Annotated

import typer

from imagetune.cli import accounts
from imagetune.cli.devices import devices
from imagetune.cli.upscale import upscale
from imagetune.config import Settings
from imagetune.engine.base import Device

app = typer.Typer(
    help="imagetune: a self-hosted image upscaling service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(accounts.users, name="users")
app.add_typer(accounts.keys, name="keys")
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")
app.command()(upscale)
app.command()(devices)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8000]")] = None,
    no_workers: Annotated[
        bool,
        typer.Option(
            "--no-workers", help="Run the API alone; jobs run in `imagetune worker` processes."
        ),
    ] = False,
) -> None:
    """Run the API and the background workers (the embedded default: SQLite, local files)."""
    import uvicorn

    from imagetune.app import create_app
    from imagetune.cli.console import how_to_get_a_key
    from imagetune.logs import configure_logging

    overrides: dict[str, object] = {
        k: v for k, v in {"host": host, "port": port}.items() if v is not None
    }
    if no_workers:
        overrides["workers"] = 0
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level)
    if settings.resolved_workers and settings.engine_device is Device.GPU:
        _require_gpu(settings)
    how_to_get_a_key(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
    )


def _require_gpu(settings: Settings) -> None:
    """Refuse to start, with the reason, where IMAGETUNE_ENGINE_DEVICE=gpu cannot be met."""
    from imagetune.engine.devices import NoGpuDevice, probe_devices, select_devices

    try:
        select_devices(probe_devices(), settings.engine_device, settings.engine_gpu_indexes)
    except NoGpuDevice as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (jobs at once) [default: available CPUs / engine threads]",
        ),
    ] = None,
) -> None:
    """Run workers alone, beside `imagetune serve --no-workers` on this or other hosts.

    On PostgreSQL any number of hosts may run workers; on the embedded SQLite file, one.
    SIGTERM or Ctrl+C lets each worker finish its job (IMAGETUNE_SHUTDOWN_GRACE seconds),
    then hands back what is left.
    """
    import signal
    import threading

    from imagetune.engine.devices import NoGpuDevice
    from imagetune.jobs.host import run_workers
    from imagetune.jobs.recovery import DataDirBusy
    from imagetune.logs import configure_logging
    from imagetune.services import build_services

    settings = Settings()
    configure_logging(settings.log_level)
    # None: one process per selected GPU, or available CPUs / engine threads.
    requested = concurrency or settings.workers or None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    services = build_services(settings)
    try:
        with run_workers(settings, services, requested) as pool:
            typer.echo(
                f"imagetune worker: {pool.size} process(es) on {pool.device}, "
                f"{services.engine.dialect.name}, queue {type(services.queue).__name__}; "
                "stop with Ctrl+C or SIGTERM"
            )
            stop.wait()
            typer.echo("stopping: workers finish the job in hand, then exit")
    except DataDirBusy as e:
        typer.echo(f"error: {e} (the embedded queue has one worker host; use PostgreSQL for more)")
        raise typer.Exit(1) from None
    except NoGpuDevice as e:
        typer.echo(f"error: {e}")
        raise typer.Exit(1) from None
    finally:
        services.close()


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (serve does this at start-up too)."""
    from imagetune.db.engine import make_engine
    from imagetune.db.migrate import current_revision, upgrade

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    typer.echo(f"database at revision {current_revision(engine)}")
    engine.dispose()
