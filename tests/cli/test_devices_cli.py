"""``imagetune devices`` and ``imagetune upscale --metadata``, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from imagetune.engine.devices import list_devices, loader_present
from tests.databases import service_missing
from tests.engine.test_metadata import camera_jpeg
from tests.support import free_port, run_imagetune


def imagetune(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160", "IMAGETUNE_ENGINE_THREADS": "2", **env}
    return run_imagetune(list(args), env)


def test_devices_json_lists_what_ncnn_sees() -> None:
    done = imagetune("devices", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    seen = list_devices()
    assert [d["index"] for d in report["devices"]] == [d.index for d in seen]
    for entry, device in zip(report["devices"], seen, strict=True):
        assert (entry["name"], entry["type"]) == (device.name, device.type.value)
        assert entry["memory_budget_mb"] == device.memory_budget_mb
    real = [d.index for d in seen if d.type.is_gpu]
    assert report["auto"]["uses"] == ("gpu" if real else "cpu")
    assert report["auto"]["reason"]
    assert report["configured"]["device"] == "auto"
    assert "vkCreateInstance" not in done.stderr


def test_devices_table_says_what_auto_chooses() -> None:
    done = imagetune("devices")
    assert done.returncode == 0, done.stderr
    assert "auto uses: " in done.stdout
    for device in list_devices():
        assert device.name[:20] in done.stdout


@pytest.mark.slow
def test_gpu_without_a_device_fails_with_a_clear_message(tmp_path: Path) -> None:
    # No driver: the loader (if any) finds nothing, as on a host without a GPU.
    env = {"VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": ""}
    done = imagetune("devices", IMAGETUNE_ENGINE_DEVICE="gpu", **env)
    assert done.returncode == 1
    assert "ncnn sees no Vulkan device" in done.stderr
    assert "vkCreateInstance" not in done.stdout + done.stderr
    source = tmp_path / "a.png"
    source.write_bytes(camera_jpeg())
    upscaled = imagetune("upscale", str(source), IMAGETUNE_ENGINE_DEVICE="gpu", **env)
    assert upscaled.returncode == 1
    assert "ncnn sees no Vulkan device" in upscaled.stderr
    assert "Traceback" not in upscaled.stderr
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        started = imagetune(*command, IMAGETUNE_DATA_DIR=str(tmp_path / "data"),
                            IMAGETUNE_ENGINE_DEVICE="gpu", **env)  # fmt: skip
        assert started.returncode == 1, command
        assert "ncnn sees no Vulkan device" in started.stdout + started.stderr
        assert "Traceback" not in started.stdout + started.stderr


@pytest.mark.slow
def test_gpu_device_is_used_by_upscale(tmp_path: Path) -> None:
    if not loader_present() or not list_devices():
        service_missing("ncnn sees no Vulkan device (apt-get install mesa-vulkan-drivers)")
    source = tmp_path / "photo.jpg"
    source.write_bytes(camera_jpeg())
    done = imagetune(
        "upscale", str(source), "--scale", "1K", IMAGETUNE_ENGINE_DEVICE="gpu",
        IMAGETUNE_LOG_LEVEL="info",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "queueC" not in done.stderr  # ncnn's device report stays off the terminal
    with Image.open(tmp_path / "photo-1K.png") as out:
        assert out.size == (683, 1024)


@pytest.mark.slow
def test_upscale_metadata_option(tmp_path: Path) -> None:
    source = tmp_path / "camera.jpg"
    source.write_bytes(camera_jpeg())
    kept, stripped = tmp_path / "kept.jpg", tmp_path / "stripped.jpg"
    for target, mode in ((kept, "keep"), (stripped, "strip")):
        done = imagetune(
            "upscale", str(source), "--model", "classic", "--format", "jpeg",
            "--metadata", mode, "-o", str(target),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    with Image.open(kept) as image:
        assert image.getexif().get_ifd(0x8825)[1] == "N"
        assert image.getexif()[0x0112] == 1
    with Image.open(stripped) as image:
        assert not image.getexif()
    done = imagetune("upscale", str(source), "--metadata", "all")
    assert done.returncode == 2
    assert "metadata" in done.stderr
