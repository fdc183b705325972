"""Top-level commands: serve, db, and the users/keys groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from imagetune.cli import accounts, webhooks
from imagetune.cli.upscale import upscale
from imagetune.config import Settings

if TYPE_CHECKING:
    from imagetune.hosting.worker_process import ProcessorFactory

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


@dataclass(frozen=True)
class Hooks:
    """What a program embedding this CLI may swap (``main(obj=Hooks(...))``): the test
    suite runs `serve` and `worker` with processors that take a chosen time."""

    processor_factory: ProcessorFactory | None = None


def _processor_factory(ctx: typer.Context) -> ProcessorFactory:
    from imagetune import wiring

    hooks = ctx.obj if isinstance(ctx.obj, Hooks) else Hooks()
    return hooks.processor_factory or wiring.processor


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
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level)
    how_to_get_a_key(settings)
    uvicorn.run(
        create_app(settings, _processor_factory(ctx)),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
    )


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
    import signal
    import threading

    from imagetune import wiring
    from imagetune.hosting.host import run_workers
    from imagetune.hosting.lock import DataDirBusy
    from imagetune.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    size = concurrency or max(1, settings.resolved_workers)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    jobs = wiring.jobs(settings, wiring.database(settings))
    try:
        with run_workers(settings, jobs, wiring.storage(settings), size, _processor_factory(ctx)):
            typer.echo(
                f"imagetune worker: {size} process(es) on {jobs.database.dialect}, "
                f"queue {type(jobs.queue).__name__}; stop with Ctrl+C or SIGTERM"
            )
            stop.wait()
            typer.echo("stopping: workers finish the job in hand, then exit")
    except DataDirBusy as e:
        typer.echo(f"error: {e} (the embedded queue has one worker host; use PostgreSQL for more)")
        raise typer.Exit(1) from None
    finally:
        jobs.close()


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (serve does this at start-up too)."""
    from imagetune import wiring
    from imagetune.db.migrate import current_revision

    database = wiring.database(Settings())
    typer.echo(f"database at revision {current_revision(database.engine)}")
    database.close()
