"""``imagetune upscale``: the engine on local files, no server needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from imagetune.cli.context import settings
from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.errors import EngineError
from imagetune.engine.metadata import DEFAULT_METADATA, MetadataMode
from imagetune.engine.models import DEFAULT_MODEL, ModelName
from imagetune.errors import ImagetuneError, job_failure
from imagetune.jobs.models import Scale

IMAGE_SUFFIXES = {
    *(".png", ".apng", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"),
    *(".avif", ".heic", ".heif"),
}

err = Console(stderr=True, soft_wrap=True)


def upscale(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(exists=True, help="An image, or a directory of images.")
    ],
    scale: Annotated[Scale, typer.Option(help="Longer side: 1K, 2K or 4K.")] = Scale.K2,
    model: Annotated[ModelName, typer.Option(help="photo, enhance, anime or classic.")] = (
        DEFAULT_MODEL
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File (for one image) or directory. Default: NAME-SCALE.EXT beside the "
            "image; for a directory, its upscaled/ subdirectory.",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="png, jpeg, webp, avif or gif. An animation stays one: png (APNG), webp or gif.",
        ),
    ] = OutputFormat.PNG,
    metadata: Annotated[
        MetadataMode,
        typer.Option(
            help="strip: only the ICC profile; keep: EXIF (location included), XMP and IPTC too."
        ),
    ] = DEFAULT_METADATA,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="IMAGETUNE_BASE_URL",
            help="Upscale on this imagetune server (e.g. http://127.0.0.1:8000) instead of "
            "locally.",
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="IMAGETUNE_API_KEY", help="API key for --server.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--jobs", min=1, help="Uploads in flight at once, with --server.")
    ] = 4,
) -> None:
    """Upscale images offline with the same engine the service runs, or on a server."""
    from imagetune import wiring
    from imagetune.engine.devices import NoGpuDevice

    jobs = _plan_outputs(source, output, scale, output_format)
    if not jobs:
        err.print(f"[yellow]no images found in {source}[/]", highlight=False)
        raise typer.Exit(1)
    if server:
        from imagetune.cli.remote import upscale_remote

        options = {
            "scale": scale.value,
            "model": model.value,
            "output_format": output_format.value,
            "metadata": metadata.value,
        }
        failed = upscale_remote(
            jobs, server=server, api_key=api_key, concurrency=concurrency, console=err, **options
        )
        raise typer.Exit(1 if failed else 0)
    try:
        processor = wiring.processor(settings(ctx))
    except NoGpuDevice as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    request = ProcessRequest(
        scale.pixels, model=model, output_format=output_format, metadata=metadata
    )
    failed = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        for image_path, target in jobs:
            task = progress.add_task(image_path.name, total=None)

            def advance(done: int, total: int, task: TaskID = task) -> None:
                progress.update(task, completed=done, total=total)

            try:
                result = processor.process(image_path.read_bytes(), request, advance)
            except (ImagetuneError, EngineError) as e:
                progress.update(task, description=f"[red]{image_path.name}: {job_failure(e)}")
                failed += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(result.data)
            progress.update(task, description=f"{image_path.name} -> {target}")
    if failed:
        raise typer.Exit(1)


def _plan_outputs(
    source: Path, output: Path | None, scale: Scale, fmt: OutputFormat
) -> list[tuple[Path, Path]]:
    extension = {"jpeg": "jpg"}.get(fmt.value, fmt.value)

    def name_for(path: Path) -> str:
        return f"{path.stem}-{scale.value}.{extension}"

    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        directory = output or source / "upscaled"
        return [(image, directory / name_for(image)) for image in images]
    if output is None:
        return [(source, source.with_name(name_for(source)))]
    if output.is_dir():
        return [(source, output / name_for(source))]
    return [(source, output)]
