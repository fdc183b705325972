"""The Vulkan path, run for real: on a GPU where there is one, else on Mesa's lavapipe
(a software Vulkan device that .ci/run installs). Every network family runs through the
device and is compared with the CPU path. Skipped, with the reason, where ncnn sees no
Vulkan device; IMAGETUNE_TEST_REQUIRE_SERVICES=1 (CI) makes that a failure.

The bounds come from lavapipe (fp16 storage, fp32 arithmetic, as the engine sets it):
across these cases the worst mean absolute difference measured 0.172 (Real-ESRGAN x4plus
on a 16x12 original; 0.116 on a 32x24 one) and the worst single sample 4 levels of 255
(SPAN x4); MEAN_BOUND and MAX_BOUND leave about three and two times that for other
drivers' rounding. (With fp16 arithmetic SPAN x4 went
10 levels away: the engine turns it off on the device.)
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from imagetune.engine.base import Device, ProcessRequest
from imagetune.engine.devices import list_devices
from imagetune.engine.networks import NETWORKS
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.engine.runtime import FloatImage, InferenceFailed
from imagetune.engine.tiling import upscale_tiled
from tests.conftest import ClientFactory, ServerFactory
from tests.databases import service_missing
from tests.engine.conftest import encoded, photo
from tests.support import make_image

pytestmark = pytest.mark.slow

MEAN_BOUND = 0.5
"""Mean absolute difference from the CPU path, in levels of 255."""
MAX_BOUND = 8
"""Largest difference of any one sample, in levels of 255."""


@pytest.fixture(scope="module", autouse=True)
def vulkan_device() -> None:
    if not list_devices():
        service_missing(
            "ncnn sees no Vulkan device (apt-get install mesa-vulkan-drivers libvulkan1)"
        )


@pytest.fixture(scope="module")
def engines() -> dict[tuple[Device, int | None], Upscaler]:
    """CPU and device engines, whole-image and with small tiles. One CPU thread: the suite
    runs four files side by side on two cores, where ncnn's threads would spin waiting for
    each other."""
    return {
        (device, tile): Upscaler(EngineConfig(threads=1, device=device, tile=tile))
        for device in (Device.CPU, Device.GPU)
        for tile in (None, 24)
    }


def samples(data: bytes) -> npt.NDArray[np.float64]:
    """Decoded samples in levels of 255 (16-bit ones scaled down, not rounded)."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    scale = 257.0 if decoded.dtype == np.uint16 else 1.0
    return decoded.astype(np.float64) / scale


def rgba() -> bytes:
    image = photo((64, 48)).convert("RGBA")
    alpha = np.full((48, 64), 255, np.uint8)
    alpha[:, 40:] = 0
    alpha[10:20, 10:30] = 128
    image.putalpha(Image.fromarray(alpha))
    return encoded(image)


def sixteen_bit(channels: int) -> bytes:
    pixels = np.asarray(photo((48, 32)), dtype=np.float64) * 257
    pixels += np.random.default_rng(0).integers(0, 257, pixels.shape)  # low bits in use
    deep = np.clip(pixels, 0, 65535).astype(np.uint16)[:, :, ::-1]
    ok, png = cv2.imencode(".png", deep if channels == 3 else deep.mean(axis=2).astype(np.uint16))
    assert ok
    return png.tobytes()


CASES = {
    # name: (original, long side, model, expected networks)
    "span-x4": (lambda: encoded(photo((64, 48))), 256, "photo", ["span-x4"]),
    "span-x2": (lambda: encoded(photo((64, 48))), 128, "photo", ["span-x2"]),
    "waifu2x-denoise": (
        lambda: encoded(photo((64, 48), "chelsea"), "JPEG", quality=75),
        128,
        "photo",
        ["waifu2x-photo-x2-denoise2"],
    ),
    "realesrgan-x4plus": (lambda: encoded(photo((16, 12))), 64, "enhance", ["realesrgan-x4plus"]),
    "animevideov3-x2": (lambda: make_image((64, 48)), 128, "anime", ["animevideov3-x2"]),
    "animevideov3-x4": (lambda: make_image((64, 48)), 256, "anime", ["animevideov3-x4"]),
    # Odd sides: ncnn's Vulkan path needs width x height to be a multiple of 4.
    "odd sides, span-x2": (lambda: encoded(photo((41, 37))), 82, "photo", ["span-x2"]),
    "alpha": (rgba, 256, "photo", ["span-x4"]),
    "16-bit colour": (lambda: sixteen_bit(3), 96, "photo", ["span-x2"]),
    "16-bit gray": (lambda: sixteen_bit(1), 192, "anime", ["animevideov3-x4"]),
}


TILED = {"span-x2", "waifu2x-denoise", "animevideov3-x4", "odd sides, span-x2", "16-bit gray"}
"""The cases run in tiles of 24 pixels; the others whole. Every case runs once (on lavapipe
each run costs seconds of both CPUs): SPAN, animevideov3 and 16-bit images run both ways,
waifu2x in tiles and Real-ESRGAN whole, since the tiling does not depend on the network."""


@pytest.mark.parametrize(
    ("case", "tile"),
    [(case, 24 if case in TILED else None) for case in CASES],
    ids=[f"{case}-{'tiled' if case in TILED else 'whole'}" for case in CASES],
)
def test_device_matches_the_cpu_path(
    engines: dict[tuple[Device, int | None], Upscaler], case: str, tile: int | None
) -> None:
    make, long_side, model, networks = CASES[case]
    data = make()
    cpu, gpu = engines[(Device.CPU, tile)], engines[(Device.GPU, tile)]
    assert gpu.use_gpu
    from imagetune.engine.decode import decode
    from imagetune.engine.models import ModelName

    passes = gpu.passes_for(decode(data), long_side, ModelName(model))
    assert [spec.name for spec in passes] == networks
    request = ProcessRequest(long_side, model=ModelName(model))
    steps: list[int] = []
    on_device = gpu.process(data, request, lambda done, total: steps.append(total))
    on_cpu = cpu.process(data, request)
    if tile is not None:
        assert steps[-1] > 2  # the image really went through several tiles
    assert on_device.data[:4] == on_cpu.data[:4]
    if case.startswith("16-bit"):
        assert on_device.data[24] == 16  # IHDR bit depth: still 16 bits
    a, b = samples(on_device.data), samples(on_cpu.data)
    assert a.shape == b.shape
    difference = np.abs(a - b)
    print(f"{case} tile={tile}: mean {difference.mean():.3f} max {difference.max():.2f}")
    assert difference.mean() <= MEAN_BOUND
    assert difference.max() <= MAX_BOUND
    if case == "alpha":  # transparency is not the network's: identical on both paths
        assert np.array_equal(a[:, :, 3], b[:, :, 3])


def test_out_of_memory_on_the_device_splits_the_tile(
    engines: dict[tuple[Device, int | None], Upscaler], caplog: pytest.LogCaptureFixture
) -> None:
    # Fault injection around the real device network: tiles above 40x40 input (context
    # included) fail as an allocation on the device does (ncnn returns -100).
    network = engines[(Device.GPU, None)].network(NETWORKS["span-x4"])
    assert network.use_gpu
    image = np.asarray(photo((80, 60)), dtype=np.float32) / 255

    def limited(tile: FloatImage) -> FloatImage:
        if tile.shape[0] * tile.shape[1] > 40 * 40:
            raise InferenceFailed("ncnn returned -100")
        return network.run(tile)

    out = np.empty((240, 320, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        upscale_tiled(image, limited, scale=4, tile=64, overlap=8, out=out)
    assert "retrying in smaller tiles" in caplog.text
    cpu = engines[(Device.CPU, None)].network(NETWORKS["span-x4"])
    reference = np.clip(cpu.run(image), 0, 1) * 255
    difference = np.abs(out.astype(np.float64) - reference)
    assert difference.mean() <= MEAN_BOUND
    assert difference.max() <= MAX_BOUND + 1  # plus the rounding of the uint8 result


@pytest.mark.parametrize("name", ["animevideov3-x4", "span-x4"])
def test_odd_images_on_the_device_match_the_same_regions_on_the_cpu(
    engines: dict[tuple[Device, int | None], Upscaler], name: str
) -> None:
    # 33x23: no region of real pixels can have an area that is a multiple of 4, so the
    # device splits the image in two (as tiling does); the CPU, run on the same regions,
    # must agree. (Against the CPU's single region the seam shows, as any tile seam.)
    spec = NETWORKS[name]
    image = np.asarray(photo((33, 23)), dtype=np.float32) / 255
    outs = []
    for device in (Device.GPU, Device.CPU):
        network = engines[(device, None)].network(spec)
        out = np.empty((23 * spec.scale, 33 * spec.scale, 3), np.uint8)
        upscale_tiled(image, network.run, scale=spec.scale, tile=64, overlap=spec.overlap,
                      out=out, even=True)  # fmt: skip
        outs.append(out.astype(np.float64))
    difference = np.abs(outs[0] - outs[1])
    print(f"{name} odd regions: mean {difference.mean():.3f} max {difference.max():.2f}")
    assert difference.mean() <= MEAN_BOUND
    assert difference.max() <= MAX_BOUND


def test_device_tiles_follow_its_memory_budget(
    engines: dict[tuple[Device, int | None], Upscaler],
) -> None:
    gpu = engines[(Device.GPU, None)]
    assert gpu.gpu is not None
    budget_kb = gpu.gpu.memory_budget_mb * 1024 / 2
    for spec in NETWORKS.values():
        tile = gpu.tile_for(spec)
        assert tile <= 512
        assert tile == 512 or (tile + 2 * spec.overlap + 1) ** 2 * spec.kb_per_pixel > budget_kb
        assert (tile + 2 * spec.overlap) ** 2 * spec.kb_per_pixel <= budget_kb or tile == 16


def test_auto_skips_a_software_device(caplog: pytest.LogCaptureFixture) -> None:
    devices = list_devices()
    with caplog.at_level(logging.INFO):
        auto = Upscaler(EngineConfig(threads=1, device=Device.AUTO))
    if any(device.type.is_gpu for device in devices):
        assert auto.gpu is not None
        assert auto.gpu.type.is_gpu
    else:
        assert not auto.use_gpu
        assert "software Vulkan device" in caplog.text


@pytest.fixture
def gpu_server(server_factory: ServerFactory) -> object:
    # One engine thread: the CPU default would be two workers on this machine's two
    # cores, so "one worker per device" shows.
    return server_factory(IMAGETUNE_ENGINE_DEVICE="gpu", IMAGETUNE_ENGINE_THREADS="1")


def test_a_service_job_on_the_device(gpu_server, client_factory: ClientFactory) -> None:
    server = gpu_server
    ready = httpx.get(f"{server.base_url}/readyz").json()
    devices = list_devices()
    assert ready["workers_expected"] == len(
        [d for d in devices if d.type.rank == min(x.type.rank for x in devices)]
    )
    assert devices[0].name in ready["device"]
    client = client_factory(server)
    job = client.upscale(make_image((64, 48)), "1K")
    assert job["status"] == "Succeed", job
    image = Image.open(io.BytesIO(httpx.get(job["image_urls"][0]).content))
    assert image.size == (1024, 768)
    log = server.log()
    assert f"workers run on GPU {devices[0].index}: {devices[0].name}" in log
    assert "engine runs on GPU" in log
    assert "no address-space limit" in log
    assert "queueC" not in log  # ncnn's device report stays out of the service's output
    assert "vkCreateInstance" not in log


MEMORY_PROBE = """
import io, json
import numpy as np
from PIL import Image
from imagetune.engine.base import Device, ProcessRequest
from imagetune.engine.pipeline import EngineConfig, Upscaler
from tests.engine.conftest import encoded, photo

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

engine = Upscaler(EngineConfig(threads=1, device=Device.GPU, tile=256))
engine.process(encoded(photo((16, 16))), ProcessRequest(64))  # weights and pipelines
before = resident_mb()
peak = before

def watch(done, total):
    global peak
    peak = max(peak, resident_mb())

engine.process(encoded(photo((160, 160))), ProcessRequest(640), watch)
print(json.dumps({"before": before, "peak": peak, "after": resident_mb()}))
"""


def test_device_memory_is_handed_back_after_each_job() -> None:
    devices = list_devices()
    if devices[0].type.is_gpu:
        pytest.skip("device memory shows in host memory only on a software device")
    # On lavapipe the device's memory is the process's memory: what the pools hold between
    # jobs shows in the resident size. Measured in a fresh process, whose resident size
    # nothing else has grown.
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    before, peak, after = figures["before"], figures["peak"], figures["after"]
    # 160x160 to 640x640 in one tile: about 55 MB on lavapipe (256 to 1024 needed 140 MB
    # and three times the CPU, for the same finding)
    assert peak - before > 30, figures  # the job did need device memory
    assert after - before < (peak - before) / 2, figures


def test_worker_host_spreads_a_given_count_over_the_device(worker_factory) -> None:
    host = worker_factory("gpu-host", concurrency=2, IMAGETUNE_ENGINE_DEVICE="gpu")
    device = list_devices()[0]
    assert f"imagetune worker: 2 process(es) on GPU {device.index}: {device.name}" in host.log()
