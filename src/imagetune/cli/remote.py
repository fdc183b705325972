"""``imagetune upscale --server URL``: the same command, run by a remote imagetune server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from imagetune_client import (
    APIConnectionError,
    APIError,
    Client,
    ImagetuneClientError,
    Job,
    JobFailed,
)
from imagetune_client.errors import detail_text
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn


def upscale_remote(
    plan: list[tuple[Path, Path]],
    *,
    server: str,
    api_key: str | None,
    scale: str,
    model: str,
    output_format: str,
    metadata: str,
    concurrency: int,
    console: Console,
) -> int:
    """Upscale each (image, target) of ``plan`` on ``server``; the number that failed.

    Raises typer.Exit(1) at once when the server cannot be reached or refuses the key.
    """
    started = time.monotonic()
    try:
        client = Client(server, api_key)
    except ImagetuneClientError as e:
        console.print(f"[red]error: {e}[/]", highlight=False)
        raise typer.Exit(1) from None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with client, Progress(*columns, console=console) as progress:
        try:
            client.models()  # one request that checks the address and the key
        except ImagetuneClientError as e:
            console.print(f"[red]error: {server}: {describe(e)}[/]", highlight=False)
            raise typer.Exit(1) from None

        def run(item: tuple[Path, Path]) -> bool:
            source, target = item
            task = progress.add_task(source.name, total=100)

            def advance(job: Job) -> None:
                progress.update(task, completed=job.progress)

            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                client.upscale(
                    source,
                    scale,
                    target,
                    model=model,
                    output_format=output_format,
                    metadata=metadata,
                    on_progress=advance,
                )
            except ImagetuneClientError as e:
                progress.update(task, description=f"[red]{source.name}: {describe(e)}")
                return False
            progress.update(task, completed=100, description=f"{source.name} -> {target}")
            return True

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(run, plan))
    failed = results.count(False)
    console.print(
        f"{len(results) - failed} upscaled, {failed} failed, "
        f"in {time.monotonic() - started:.1f} s on {server}",
        highlight=False,
    )
    return failed


def describe(error: ImagetuneClientError) -> str:
    """What a person needs from ``error``: the server's detail, or what went wrong."""
    if isinstance(error, APIError):
        return detail_text(error.detail)
    if isinstance(error, JobFailed):
        return f"job failed: {error.error}"
    if isinstance(error, APIConnectionError):
        return "cannot reach the server"
    return str(error)
