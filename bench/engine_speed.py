"""Engine time against bare ncnn inference, and the peak memory of 4K jobs.

Run from the repository root:

    .venv/bin/python bench/engine_speed.py [--models photo,anime,classic] [--threads 2]
    .venv/bin/python bench/engine_speed.py --smoke    # seconds: does it still run?

Speed: a real photo (scikit-image's coffee, 600x400, PNG) goes through the whole engine
step (decode, tiling, inference, resize, encode) for each scale and model. Two baselines
run the same network passes on the same input with nothing else:
  * bare (whole): one ncnn extract over the whole image per pass, the literal "bare
    inference";
  * bare (tiles): the engine's own tile size without overlap, the fastest bare run here.
Each figure is the best of --repeat runs, measured side by side in one process.

Memory: each 4K job runs in a fresh process and reports its peak RSS (VmHWM), for the
worst cases (an original just under 2048 px, which an x4 pass takes to 8188 px before the
final downscale; the same as JPEG, which adds a denoising pass), the GAN model, and a
49-megapixel original (downscale only).

--smoke is the same run in miniature: coffee shrunk to 150x100, photo and classic at 1K
once each on 1 thread, the parts of a 1K job, and one 256x192 original's 1K job for
memory. Its figures mean nothing; it shows the benchmark still works.
"""

from __future__ import annotations

import argparse
import io
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.decode import DecodedImage, decode
from imagetune.engine.encode import encode
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.engine.resample import resize
from imagetune.engine.sizing import target_size
from imagetune.engine.tiling import tile_grid
from imagetune.jobs.models import Scale


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def bare_whole(upscaler: Upscaler, passes, image: np.ndarray) -> None:
    current = image
    for spec in passes:
        current = upscaler.network(spec).run(current)


def bare_tiles(upscaler: Upscaler, passes, image: np.ndarray) -> None:
    current = image
    for spec in passes:
        run = upscaler.network(spec).run
        h, w = current.shape[:2]
        out = np.empty((h * spec.scale, w * spec.scale, 3), np.float32)
        s = spec.scale
        for top, left, th, tw in tile_grid(h, w, upscaler.tile_for(spec)):
            tile = np.ascontiguousarray(current[top : top + th, left : left + tw])
            out[top * s : (top + th) * s, left * s : (left + tw) * s] = run(tile)
        current = out


def speed(
    models: list[ModelName], scales: list[Scale], threads: int, repeat: int, shrink: int
) -> None:
    photo = Image.fromarray(np.asarray(skimage.data.coffee()))
    photo = photo.resize((photo.width // shrink, photo.height // shrink), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    data = buffer.getvalue()
    decoded = decode(data)
    floats = decoded.pixels.astype(np.float32) / 255
    upscaler = Upscaler(EngineConfig(threads=threads))
    print(
        f"input: coffee {photo.width}x{photo.height} PNG; {threads} threads; tile {upscaler.tile}"
    )
    breakdown(upscaler, decoded, max(scales, key=lambda scale: scale.pixels), repeat)
    print(
        f"{'model':8s} {'scale':5s} {'passes':32s} {'engine':>8s} {'bare whole':>11s} "
        f"{'ratio':>6s} {'bare tiles':>11s} {'ratio':>6s}"
    )
    for model in models:
        for scale in scales:
            passes = upscaler.passes_for(decoded, scale.pixels, model)
            request = ProcessRequest(scale.pixels, model=model)
            upscaler.process(data, request)  # load the networks, warm the caches
            engine = best_of(repeat, lambda request=request: upscaler.process(data, request))
            names = " -> ".join(p.name for p in passes) or "(resampling only)"
            if not passes:
                print(f"{model.value:8s} {scale.value:5s} {names:32s} {engine:7.2f}s")
                continue
            whole = best_of(repeat, lambda passes=passes: bare_whole(upscaler, passes, floats))
            tiles = best_of(repeat, lambda passes=passes: bare_tiles(upscaler, passes, floats))
            print(
                f"{model.value:8s} {scale.value:5s} {names:32s} {engine:7.2f}s {whole:10.2f}s "
                f"{engine / whole:5.2f}x {tiles:10.2f}s {engine / tiles:5.2f}x"
            )


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report
# this benchmark's own peak; VmHWM belongs to the child's fresh address space.
MEMORY_JOB = """
import re, sys
from pathlib import Path
from imagetune.engine.base import ProcessRequest
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler

def hwm():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024

upscaler = Upscaler(EngineConfig(threads=int(sys.argv[2])))
before = hwm()
request = ProcessRequest(int(sys.argv[4]), model=ModelName(sys.argv[3]))
result = upscaler.process(open(sys.argv[1], "rb").read(), request)
print(f"{result.width}x{result.height} {before} {hwm()}")
"""


MemoryCase = tuple[tuple[int, int], str, str]
"""(original size, model, encoding)"""

MEMORY_CASES: list[MemoryCase] = [
    ((2047, 1535), "photo", "png"),  # x4 pass to 8188x6140, then down: the largest canvas
    ((2047, 1535), "photo", "jpeg75"),  # denoise x2 then SPAN x2: a float intermediate too
    ((2047, 1535), "photo", "png16"),  # 16-bit colour: a uint16 canvas, float resampling
    ((2047, 1535), "photo", "rgba"),  # alpha: bleeding and a separate alpha plane
    ((1024, 768), "photo", "png"),
    ((2047, 1535), "anime", "png"),
    ((700, 500), "enhance", "png"),  # the GAN's tiles are the smallest (memory budget)
    ((7000, 7000), "photo", "png"),  # 49 megapixels: downscale only
]


def write_original(path: Path, image: Image.Image, encoding: str) -> None:
    if encoding == "png":
        image.save(path, "PNG", compress_level=1)
    elif encoding == "jpeg75":
        image.save(path, "JPEG", quality=75)
    elif encoding == "rgba":
        with_alpha = image.convert("RGBA")
        with_alpha.putalpha(image.convert("L").point(lambda v: 0 if v < 60 else 255))
        with_alpha.save(path, "PNG", compress_level=1)
    else:
        import cv2

        deep = np.asarray(image, np.uint16)[:, :, ::-1] * 257
        cv2.imwrite(str(path.with_suffix(".png")), deep, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        path.with_suffix(".png").rename(path)


SMOKE_MEMORY_CASES: list[MemoryCase] = [((256, 192), "photo", "png")]


def memory(threads: int, cases: list[MemoryCase], scale: Scale) -> None:
    print(f"\npeak memory of {scale.value} jobs (a fresh process each; its VmHWM):")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for (width, height), model, encoding in cases:
            texture = skimage.data.astronaut()
            image = Image.fromarray(texture).resize((width, height), Image.Resampling.BILINEAR)
            grain = rng.integers(-8, 8, (height, width, 1))
            noisy = Image.fromarray(
                np.clip(np.asarray(image, np.int16) + grain, 0, 255).astype(np.uint8)
            )
            path = Path(tmp) / f"{width}x{height}-{encoding}.img"
            write_original(path, noisy, encoding)
            started = time.perf_counter()
            job = [MEMORY_JOB, str(path), str(threads), model, str(scale.pixels)]
            child = subprocess.run(
                [sys.executable, "-c", *job],
                check=True,
                capture_output=True,
                text=True,
            )
            elapsed = time.perf_counter() - started
            size, loaded, peak = child.stdout.split()
            print(
                f"  {width}x{height} {encoding:6s} {model:7s} -> {size:10s} peak {peak:>5s} MB "
                f"(interpreter + imports: {loaded} MB; {elapsed:.1f} s)"
            )


def breakdown(upscaler: Upscaler, decoded: DecodedImage, scale: Scale, repeat: int) -> None:
    """Where a photo job's time goes (the final resize and encode are the overhead)."""
    passes = upscaler.passes_for(decoded, scale.pixels, ModelName.PHOTO)
    upscaled = upscaler._run_passes(decoded.pixels, passes, None)
    size = target_size(decoded.width, decoded.height, scale.pixels)
    final = resize(upscaled, size)
    parts = {
        "network passes": best_of(
            repeat, lambda: upscaler._run_passes(decoded.pixels, passes, None)
        ),
        "final resize": best_of(repeat, lambda: resize(upscaled, size)),
    }
    for fmt in OutputFormat:
        parts[f"encode {fmt.value}"] = best_of(repeat, lambda fmt=fmt: encode(final, fmt, None))
    print(
        f"{scale.value} photo job, parts: " + ", ".join(f"{k} {v:.2f}s" for k, v in parts.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="photo,anime,classic,enhance")
    parser.add_argument("--scales", default="1K,2K,4K")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--shrink", type=int, default=1, help="divide the photo's sides by")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    parser.set_defaults(memory_cases=MEMORY_CASES, memory_scale=Scale.K4)
    args = parser.parse_args()
    if args.smoke:
        # Options given explicitly still win.
        parser.set_defaults(
            # ncnn's threads spin while they wait for each other: on a busy machine 2
            # threads take several times longer than 1.
            threads=1,
            models="photo,classic",
            scales="1K",
            repeat=1,
            shrink=4,
            memory_cases=SMOKE_MEMORY_CASES,
            memory_scale=Scale.K1,
        )
        args = parser.parse_args()
    print("command: python bench/engine_speed.py " + shlex.join(sys.argv[1:]))
    if not args.no_speed:
        speed(
            [ModelName(m) for m in args.models.split(",")],
            [Scale(s) for s in args.scales.split(",")],
            args.threads,
            args.repeat,
            args.shrink,
        )
    if not args.no_memory:
        memory(args.threads, args.memory_cases, args.memory_scale)


if __name__ == "__main__":
    main()
