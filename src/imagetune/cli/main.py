"""Top-level commands: serve, db, usage, and the users/keys groups."""

from __future__ import annotations

from typing import Annotated

import typer

from imagetune.cli import accounts, status, usage, webhooks
from imagetune.cli.context import Hooks, Invocation, invocation
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
app.add_typer(webhooks.webhooks, name="webhooks")
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")
app.command()(upscale)
app.command()(devices)
app.command()(status.status)
app.command()(usage.usage)


@app.callback()
def _invocation(ctx: typer.Context) -> None:
    # Every command reads the settings of this one object (imagetune.cli.context).
    ctx.obj = Invocation(ctx.obj if isinstance(ctx.obj, Hooks) else Hooks())


@app.command()
def serve(
    ctx: typer.Context,
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
    settings = invocation(ctx).settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if settings.resolved_workers and settings.engine_device is Device.GPU:
        _require_gpu(settings)
    if settings.log_format == "text":  # a JSON log is for machines: every line an object
        how_to_get_a_key(settings)
    uvicorn.run(
        create_app(settings, invocation(ctx).processor_factory(), freeze_heap=True),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # imagetune.api.observe logs each request, with its request id
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
    ctx: typer.Context,
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
    import logging
    import signal
    import threading

    from imagetune import wiring
    from imagetune.engine.devices import NoGpuDevice
    from imagetune.hosting import metrics as host_metrics
    from imagetune.hosting.host import NoWorkers, run_workers
    from imagetune.hosting.lock import DataDirBusy
    from imagetune.logs import configure_logging

    settings = invocation(ctx).settings()
    configure_logging(settings.log_level, settings.log_format)
    json_log = settings.log_format == "json"
    # None: one process per selected GPU, or available CPUs / engine threads.
    requested = concurrency or settings.workers
    if requested == 0:  # `serve`'s "API only": a worker host would run nothing, silently
        typer.echo(
            "error: IMAGETUNE_WORKERS=0 leaves `imagetune worker` nothing to run (0 means "
            "the API alone, for `imagetune serve`); set it or --concurrency to 1 or more",
            err=True,
        )
        raise typer.Exit(1)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    host_metrics.prepare(settings)  # before the job system: its observer counts too
    jobs = wiring.jobs(settings, wiring.database(settings))
    processor_factory = invocation(ctx).processor_factory()
    try:
        with (
            run_workers(
                settings, jobs, wiring.storage(settings), requested, processor_factory
            ) as pool,
            host_metrics.serve_worker_metrics(settings, jobs.database),
        ):
            say = logging.getLogger("imagetune").info if json_log else typer.echo
            say(
                f"imagetune worker: {pool.size} process(es) on {pool.device}, "
                f"{jobs.database.dialect}, queue {type(jobs.queue).__name__}; "
                "stop with Ctrl+C or SIGTERM"
            )
            stop.wait()
            say("stopping: workers finish the job in hand, then exit")
    except DataDirBusy as e:
        typer.echo(f"error: {e} (the embedded queue has one worker host; use PostgreSQL for more)")
        raise typer.Exit(1) from None
    except (NoGpuDevice, NoWorkers) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        jobs.close()


@db.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the schema migrations (serve does this at start-up too)."""
    from imagetune import wiring
    from imagetune.db.migrate import current_revision

    database = wiring.database(invocation(ctx).settings())
    typer.echo(f"database at revision {current_revision(database.engine)}")
    database.close()
