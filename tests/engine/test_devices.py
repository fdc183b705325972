"""Choosing Vulkan devices: pure rules on device lists, and a silent probe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imagetune.engine.base import Device
from imagetune.engine.devices import (
    DeviceType,
    NoGpuDevice,
    VulkanDevice,
    assign_devices,
    loader_present,
    select_devices,
    worker_devices,
)
from tests.databases import service_missing

LAVAPIPE = VulkanDevice(0, "llvmpipe (LLVM 15.0.6, 256 bits)", DeviceType.CPU, 1024)


def device(index: int, kind: DeviceType, name: str = "") -> VulkanDevice:
    return VulkanDevice(index, name or f"{kind.value} {index}", kind, 8192)


def indexes(devices: tuple[VulkanDevice, ...]) -> list[int]:
    return [d.index for d in devices]


def test_auto_never_picks_a_software_device() -> None:
    selection = select_devices([LAVAPIPE], Device.AUTO)
    assert selection.devices == ()
    assert "software Vulkan device" in selection.reason
    assert "llvmpipe" in selection.reason


def test_auto_takes_real_gpus_and_says_what_it_skipped() -> None:
    found = [LAVAPIPE, device(1, DeviceType.VIRTUAL)]
    selection = select_devices(found, Device.AUTO)
    assert indexes(selection.devices) == [1]
    assert "skipped the software device(s) llvmpipe" in selection.reason


@pytest.mark.parametrize("mode", [Device.AUTO, Device.GPU])
def test_best_type_first(mode: Device) -> None:
    found = [
        device(0, DeviceType.INTEGRATED),
        device(1, DeviceType.DISCRETE),
        LAVAPIPE.__class__(2, "llvmpipe", DeviceType.CPU, 1024),
        device(3, DeviceType.DISCRETE),
    ]
    assert indexes(select_devices(found, mode).devices) == [1, 3]
    assert indexes(select_devices(found[:1] + found[2:3], mode).devices) == [0]


def test_gpu_falls_back_to_a_software_device_only() -> None:
    assert indexes(select_devices([LAVAPIPE], Device.GPU).devices) == [0]


def test_gpu_without_any_device_fails_clearly() -> None:
    with pytest.raises(NoGpuDevice, match="ncnn sees no Vulkan device"):
        select_devices([], Device.GPU)
    assert select_devices([], Device.AUTO).devices == ()
    assert "no Vulkan GPU" in select_devices([], Device.AUTO).reason


def test_cpu_ignores_every_device() -> None:
    assert select_devices([device(0, DeviceType.DISCRETE)], Device.CPU).devices == ()


def test_named_indexes() -> None:
    found = [device(0, DeviceType.DISCRETE), device(1, DeviceType.INTEGRATED), LAVAPIPE]
    found[2] = VulkanDevice(2, "llvmpipe", DeviceType.CPU, 1024)
    assert indexes(select_devices(found, Device.GPU, [1, 0]).devices) == [1, 0]
    assert indexes(select_devices(found, Device.GPU, [2]).devices) == [2]
    assert indexes(select_devices(found, Device.AUTO, [1, 2]).devices) == [1]
    with pytest.raises(NoGpuDevice, match=r"names device\(s\) \[5\]"):
        select_devices(found, Device.GPU, [5])
    assert indexes(select_devices(found, Device.AUTO, [5, 0]).devices) == [0]


def test_assign_devices_spreads_workers_in_turn() -> None:
    assert assign_devices(2, [0, 2]) == [0, 2]
    assert assign_devices(5, [0, 2]) == [0, 2, 0, 2, 0]
    assert assign_devices(1, [3, 1]) == [3]
    with pytest.raises(ValueError, match="no device"):
        assign_devices(2, [])


def test_worker_devices_defaults_to_one_per_gpu() -> None:
    two = [device(0, DeviceType.DISCRETE), device(1, DeviceType.DISCRETE)]
    gpus = select_devices(two, Device.GPU)
    assert worker_devices(gpus, None, cpu_default=8) == [0, 1]
    assert worker_devices(gpus, 3, cpu_default=8) == [0, 1, 0]
    cpu = select_devices([], Device.AUTO)
    assert worker_devices(cpu, None, cpu_default=4) == [None] * 4
    assert worker_devices(cpu, 2, cpu_default=4) == [None, None]


def probe_in_child(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)\n"
        "from imagetune.engine.devices import list_devices\n"
        "print(len(list_devices()))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_loader_without_a_driver_prints_nothing() -> None:
    """Where libvulkan exists but no driver does, ncnn would print
    ``vkCreateInstance failed -9``; the probe keeps its output off stderr."""
    if not loader_present():
        service_missing("no Vulkan loader (apt-get install libvulkan1)")
    done = probe_in_child({"VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert "vk" not in done.stderr.lower(), done.stderr
    assert "vulkan" not in done.stderr.lower(), done.stderr


def test_probe_with_a_driver_prints_nothing_but_sees_it() -> None:
    if not loader_present():
        service_missing("no Vulkan loader (apt-get install libvulkan1 mesa-vulkan-drivers)")
    done = probe_in_child({})
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "0":
        service_missing("no Vulkan device (apt-get install mesa-vulkan-drivers)")
    assert "queueC" not in done.stderr, done.stderr  # ncnn's per-device report
    assert "llvmpipe" not in done.stderr, done.stderr
