"""Which device each worker process of a host runs on: one per selected GPU by default."""

from __future__ import annotations

from imagetune.config import Settings
from imagetune.engine.base import Device
from imagetune.engine.devices import Selection, probe_devices, select_devices, worker_devices


def place_workers(settings: Settings, requested: int | None) -> tuple[list[int | None], Selection]:
    """Each worker's Vulkan device index (None: the CPU), and the selection behind it.

    ``requested`` (``--concurrency`` or IMAGETUNE_WORKERS) overrides the default count:
    one worker per selected GPU, or available CPUs / engine threads on the CPU. Raises
    NoGpuDevice when IMAGETUNE_ENGINE_DEVICE=gpu cannot be met, before any worker starts.
    The devices are probed in a child process: the supervisor holds none of them.
    """
    if settings.engine_device is Device.CPU:
        selection = Selection((), "IMAGETUNE_ENGINE_DEVICE=cpu")
    else:
        found = probe_devices()
        selection = select_devices(found, settings.engine_device, settings.engine_gpu_indexes)
    return worker_devices(selection, requested, settings.resolved_workers), selection


def settings_for(settings: Settings, gpu_index: int | None) -> Settings:
    """A worker's settings: bound to its device, or to the CPU when the host chose it."""
    if gpu_index is None:
        return settings.model_copy(update={"engine_device": Device.CPU})
    return settings.model_copy(update={"engine_gpu": str(gpu_index)})
