"""Every model at 1K, 2K and 4K on the chosen Vulkan device, with parity against the CPU.

Run from the repository root:

    .venv/bin/python bench/gpu.py [--device gpu] [--models photo,enhance,anime,classic]
                                  [--scales 1K,2K,4K] [--threads 2] [--smoke]

The original is a real photo (scikit-image's coffee, resized to 640x427, PNG). Each job
runs in a fresh process on the device: the networks are loaded and their pipelines built
on a 32x32 warm-up image first, then the job is timed once. Figures:
  * s/job: the whole engine step (decode, tiled inference, resize, PNG encode);
  * MP/s: megapixels of the result per second;
  * peak MB: the job process's peak resident memory (VmHWM), host memory only; on a
    software device (lavapipe) the device's memory is host memory too, so it shows there;
  * CPU s/job: the same job on the CPU path (warmed up the same way), for comparison;
  * parity: mean and largest absolute difference from the CPU path, in levels of 255.
--smoke runs the photo model to a 256-pixel long side from a 96x64 original (seconds, even
on lavapipe); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from imagetune.engine.base import Device, ProcessRequest
from imagetune.engine.devices import list_devices, select_devices
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.jobs.models import Scale


def original_size(width: int) -> tuple[int, int]:
    """The original's size for ``width``: the coffee photo's aspect, 640x427 at 640."""
    return width, round(width * 427 / 640)


def original(width: int = 640) -> bytes:
    photo = Image.fromarray(np.asarray(skimage.data.coffee())).resize(
        original_size(width), Image.Resampling.BICUBIC
    )
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    return buffer.getvalue()


def warm_up_image() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(skimage.data.coffee())[:32, :32]).save(buffer, "PNG")
    return buffer.getvalue()


def child(device: str, threads: int, model: str, scale: str, width: int, out: Path) -> None:
    """One job on a fresh engine; prints its figures as JSON, writes the result."""
    engine = Upscaler(EngineConfig(threads=threads, device=Device(device)))
    long_side = pixels(scale)
    engine.process(warm_up_image(), ProcessRequest(long_side // 8, model=ModelName(model)))
    data = original(width)
    started = time.perf_counter()
    result = engine.process(data, ProcessRequest(long_side, model=ModelName(model)))
    seconds = time.perf_counter() - started
    out.write_bytes(result.data)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "megapixels": result.width * result.height / 1e6,
                "peak_mb": peak_mb(),
            }
        )
    )


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(
    device: str, threads: int, model: str, scale: str, width: int, out: Path
) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", device, str(threads), model, scale]
    done = subprocess.run(
        [*command, str(width), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def pixels(scale: str) -> int:
    """The long side for ``scale``: 1K, 2K, 4K, or a number of pixels (the smoke run's)."""
    return int(scale) if scale.isdigit() else Scale(scale).pixels


def samples(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="gpu", choices=["gpu", "auto", "cpu"])
    parser.add_argument("--models", default="photo,enhance,anime,classic")
    parser.add_argument("--scales", default="1K,2K,4K")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        device, threads, model, scale, width, out = args.child
        child(device, int(threads), model, scale, int(width), Path(out))
        return
    models = ["photo"] if args.smoke else args.models.split(",")
    width = 96 if args.smoke else 640
    scales = ["256"] if args.smoke else args.scales.split(",")
    selection = select_devices(list_devices(), Device(args.device))
    name = selection.devices[0].describe() if selection.devices else "CPU"
    cpu = Upscaler(EngineConfig(threads=args.threads, device=Device.CPU))
    data = original(width)
    height = original_size(width)[1]
    print(f"device: {name}; original {width}x{height} PNG; {args.threads} threads")
    print("| model | scale | s/job | MP/s | peak MB | CPU s/job | mean diff | max diff |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for scale in scales:
                out = Path(tmp) / f"{model}-{scale}.png"
                figures = run_child(args.device, args.threads, model, scale, width, out)
                cpu.process(
                    warm_up_image(),
                    ProcessRequest(pixels(scale) // 8, model=ModelName(model)),
                )
                started = time.perf_counter()
                reference = cpu.process(data, ProcessRequest(pixels(scale), model=ModelName(model)))
                cpu_seconds = time.perf_counter() - started
                difference = np.abs(samples(out.read_bytes()) - samples(reference.data))
                print(
                    f"| {model} | {scale} | {figures['seconds']:.2f} "
                    f"| {figures['megapixels'] / figures['seconds']:.2f} "
                    f"| {figures['peak_mb']:.0f} | {cpu_seconds:.2f} "
                    f"| {difference.mean():.3f} | {difference.max():.0f} |",
                    flush=True,
                )
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")


if __name__ == "__main__":
    main()
