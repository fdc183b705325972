"""The Vulkan devices ncnn sees, and which of them a worker uses.

``auto`` takes a Vulkan device only when it is a real GPU: a CPU-type device (Mesa's
lavapipe/llvmpipe, SwiftShader) runs every network several times slower than ncnn's own
CPU path, so it is worth having for testing the GPU code and never for serving.
``gpu`` takes the best kind present, software included, and fails when there is none.

Probing prints nothing: where a Vulkan loader exists without a driver, ncnn writes
``vkCreateInstance failed -9`` (and on success, lines about each device) to stderr, so
the probe runs with file descriptor 2 pointed at /dev/null. ``ncnn`` is imported only
when a loader exists.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from imagetune.engine.base import Device

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 60.0
"""Seconds a probe in a child process may take (a software driver compiles nothing at
probe time; a hung driver must not hang start-up)."""


class DeviceType(StrEnum):
    """Vulkan's physical device types, best first."""

    DISCRETE = "discrete"
    INTEGRATED = "integrated"
    VIRTUAL = "virtual"
    CPU = "cpu"
    """A software implementation (lavapipe/llvmpipe): correct, and slower than the CPU path."""
    OTHER = "other"

    @property
    def is_gpu(self) -> bool:
        """Real graphics hardware (passed through, for a virtual one)."""
        return self in (DeviceType.DISCRETE, DeviceType.INTEGRATED, DeviceType.VIRTUAL)

    @property
    def rank(self) -> int:
        return list(DeviceType).index(self)


_NCNN_TYPES = {
    0: DeviceType.DISCRETE,
    1: DeviceType.INTEGRATED,
    2: DeviceType.VIRTUAL,
    3: DeviceType.CPU,
}


@dataclass(frozen=True)
class VulkanDevice:
    index: int
    """ncnn's device index (what IMAGETUNE_ENGINE_GPU names)."""
    name: str
    type: DeviceType
    memory_budget_mb: int
    """What ncnn may allocate on the device (its heap budget), in MB."""

    def describe(self) -> str:
        return f"GPU {self.index}: {self.name} ({self.type.value}, {self.memory_budget_mb} MB)"


class NoGpuDevice(RuntimeError):
    """``gpu`` was asked for and ncnn sees no Vulkan device (or not the one named)."""


@dataclass(frozen=True)
class Selection:
    """The devices workers use (none: the CPU), and why."""

    devices: tuple[VulkanDevice, ...]
    reason: str

    @property
    def use_gpu(self) -> bool:
        return bool(self.devices)

    def describe(self) -> str:
        if not self.devices:
            return "CPU"
        return ", ".join(device.describe() for device in self.devices)


LOADER_NAMES = ("libvulkan.so.1", "libvulkan.so", "vulkan-1.dll", "libvulkan.1.dylib")
"""The names ncnn dlopens its Vulkan loader by."""


def loader_present() -> bool:
    """Whether a Vulkan loader can be loaded at all (as ncnn will load it: by dlopen,
    so LD_LIBRARY_PATH counts); without one ncnn is not even imported."""
    for name in LOADER_NAMES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def list_devices(*, budgets: bool = True) -> list[VulkanDevice]:
    """The Vulkan devices ncnn sees in this process, silently; [] without a loader.

    Creates ncnn's Vulkan instance (once per process); ``budgets`` also opens each
    device to read its memory budget (else 0: see ``with_budget``).
    """
    if not loader_present():
        return []
    with quiet_stderr():
        import ncnn

        try:
            devices = []
            for index in range(int(ncnn.get_gpu_count())):
                info = ncnn.get_gpu_info(index)
                device = VulkanDevice(
                    index=index,
                    name=str(info.device_name()),
                    type=_NCNN_TYPES.get(int(info.type()), DeviceType.OTHER),
                    memory_budget_mb=0,
                )
                devices.append(with_budget(device) if budgets else device)
        except Exception:  # a broken driver must not stop the CPU path
            log.debug("probing Vulkan devices failed", exc_info=True)
            return []
    return devices


def with_budget(device: VulkanDevice) -> VulkanDevice:
    """``device`` with its memory budget, read by opening it (in this process, for good:
    a worker opens only the device it runs on)."""
    with quiet_stderr():
        import ncnn

        budget = int(ncnn.get_gpu_device(device.index).get_heap_budget())
    return replace(device, memory_budget_mb=budget)


def probe_devices(timeout: float = PROBE_TIMEOUT) -> list[VulkanDevice]:
    """``list_devices()`` run in a child process, so that a process that only supervises
    workers holds no Vulkan device (nor crashes with a broken driver)."""
    if not loader_present():
        return []
    code = "from imagetune.engine.devices import _print_devices; _print_devices()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return [_from_dict(entry) for entry in json.loads(done.stdout)]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, TypeError) as e:
        log.warning("probing Vulkan devices failed (%s); treating this host as GPU-less", e)
        return []


def _print_devices() -> None:
    print(json.dumps([asdict(device) for device in list_devices()]))


def _from_dict(entry: dict[str, object]) -> VulkanDevice:
    return VulkanDevice(
        index=int(str(entry["index"])),
        name=str(entry["name"]),
        type=DeviceType(str(entry["type"])),
        memory_budget_mb=int(str(entry["memory_budget_mb"])),
    )


def select_devices(
    devices: Sequence[VulkanDevice], mode: Device, indexes: Sequence[int] | None = None
) -> Selection:
    """The devices ``mode`` uses among ``devices`` (restricted to ``indexes`` if given).

    cpu: none. auto: the real GPUs of the best type present; none (the CPU) when there
    are only software devices. gpu: the devices of the best type present, a software one
    included; NoGpuDevice when there is none. Named indexes are taken as they are (with
    auto, software devices among them are still skipped).
    """
    if mode is Device.CPU:
        return Selection((), "IMAGETUNE_ENGINE_DEVICE=cpu")
    by_index = {device.index: device for device in devices}
    if indexes is not None:
        unknown = [index for index in indexes if index not in by_index]
        if unknown:
            seen = ", ".join(device.describe() for device in devices) or "none"
            message = f"IMAGETUNE_ENGINE_GPU names device(s) {unknown}; ncnn sees: {seen}"
            if mode is Device.GPU:
                raise NoGpuDevice(message)
            log.warning("%s", message)
        candidates = [by_index[index] for index in dict.fromkeys(indexes) if index in by_index]
    else:
        candidates = list(devices)
    skipped = [device for device in candidates if not device.type.is_gpu]
    if mode is Device.AUTO:
        candidates = [device for device in candidates if device.type.is_gpu]
    if not candidates:
        if mode is Device.GPU:
            raise NoGpuDevice(
                "IMAGETUNE_ENGINE_DEVICE=gpu, but ncnn sees no Vulkan device (install a "
                "Vulkan driver, or set IMAGETUNE_ENGINE_DEVICE=cpu or auto)"
            )
        if skipped:
            names = ", ".join(f"{d.name} ({d.type.value})" for d in skipped)
            return Selection(
                (),
                f"auto: {names} is a software Vulkan device, slower than the CPU path; "
                "using the CPU (IMAGETUNE_ENGINE_DEVICE=gpu forces it)",
            )
        return Selection((), "auto: ncnn sees no Vulkan GPU; using the CPU")
    if indexes is None:
        best = min(device.type.rank for device in candidates)
        candidates = [device for device in candidates if device.type.rank == best]
    reason = f"{mode.value}: " + ", ".join(
        f"{d.name} is a {d.type.value} device" for d in candidates
    )
    if mode is Device.AUTO and skipped:
        reason += "; skipped the software device(s) " + ", ".join(d.name for d in skipped)
    return Selection(tuple(candidates), reason)


def assign_devices(worker_count: int, gpu_indexes: Sequence[int]) -> list[int]:
    """The device index of each of ``worker_count`` workers, spread evenly in turn."""
    if not gpu_indexes:
        raise ValueError("no device to assign workers to")
    return [gpu_indexes[worker % len(gpu_indexes)] for worker in range(worker_count)]


def worker_devices(
    selection: Selection, requested: int | None, cpu_default: int
) -> list[int | None]:
    """Each worker's device index (None: the CPU). By default one worker per selected
    GPU, or ``cpu_default`` workers on the CPU; ``requested`` overrides the count."""
    if not selection.devices:
        return [None] * (cpu_default if requested is None else requested)
    indexes = [device.index for device in selection.devices]
    count = len(indexes) if requested is None else requested
    return list[int | None](assign_devices(count, indexes))


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the duration: native libraries write there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
