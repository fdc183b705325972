"""``imagetune devices``: what ncnn sees, and what the engine would run on."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagetune.cli.context import settings as settings_of
from imagetune.config import Settings
from imagetune.engine.base import Device
from imagetune.engine.devices import (
    NoGpuDevice,
    Selection,
    VulkanDevice,
    list_devices,
    select_devices,
)

out = Console(soft_wrap=True)


def devices(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")] = False,
) -> None:
    """List the Vulkan devices ncnn sees (index, name, type, memory budget), what `auto`
    chooses and why, and what this host's IMAGETUNE_ENGINE_DEVICE / _GPU settings choose.
    Exits 1 when those settings cannot be met (a worker would fail to start)."""
    settings = settings_of(ctx)
    found = list_devices()
    auto = select_devices(found, Device.AUTO)
    configured: Selection | None = None
    error = None
    try:
        configured = select_devices(found, settings.engine_device, settings.engine_gpu_indexes)
    except NoGpuDevice as e:
        error = str(e)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "devices": [_device_json(device) for device in found],
                    "auto": _selection_json(auto),
                    "configured": {
                        "device": settings.engine_device.value,
                        "gpu": settings.engine_gpu,
                        **(_selection_json(configured) if configured else {"error": error}),
                    },
                },
                indent=2,
            )
        )
    else:
        _print_table(found, auto, settings, configured, error)
    if error:
        raise typer.Exit(1)


def _print_table(
    found: list[VulkanDevice],
    auto: Selection,
    settings: Settings,
    configured: Selection | None,
    error: str | None,
) -> None:
    if found:
        table = Table("index", "name", "type", "memory budget")
        for device in found:
            table.add_row(
                str(device.index),
                device.name,
                device.type.value,
                f"{device.memory_budget_mb} MB",
            )
        out.print(table)
    else:
        out.print("ncnn sees no Vulkan device.")
    out.print(f"auto uses: {auto.describe()} ({auto.reason})", highlight=False)
    setting = f"IMAGETUNE_ENGINE_DEVICE={settings.engine_device.value}"
    if settings.engine_gpu is not None:
        setting += f" IMAGETUNE_ENGINE_GPU={settings.engine_gpu}"
    if configured is not None:
        out.print(f"{setting} uses: {configured.describe()}", highlight=False)
    else:
        Console(stderr=True).print(f"[red]error:[/] {error}", highlight=False)


def _device_json(device: VulkanDevice) -> dict[str, object]:
    return {**asdict(device), "type": device.type.value, "gpu": device.type.is_gpu}


def _selection_json(selection: Selection) -> dict[str, object]:
    return {
        "uses": "gpu" if selection.use_gpu else "cpu",
        "devices": [device.index for device in selection.devices],
        "reason": selection.reason,
    }
