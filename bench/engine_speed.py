"""Engine time against bare ncnn inference, and the peak memory of 4K jobs.

Run from the repository root:

    .venv/bin/python bench/engine_speed.py [--models photo,anime,classic] [--threads 2]
    .venv/bin/python bench/engine_speed.py --no-memory --compare /other/checkout/src
    .venv/bin/python bench/engine_speed.py --smoke          # a tiny run (checks the bench)

Speed: a real photo (scikit-image's coffee, 600x400, PNG) goes through the whole engine
step (decode, tiling, inference, resize, encode) for each scale and model. Two baselines
run the same network passes on the same input with nothing else:
  * bare (whole): one ncnn extract over the whole image per pass, the literal "bare
    inference";
  * bare (tiles): the engine's own tile size without overlap, the fastest bare run here.
Each figure is the best of --repeat runs, measured side by side in one process. Then
each phase of the step on its own, as the engine runs it: decode, inference (the network
passes in tiles), the final resize, PNG encoding, and storing the file (LocalStorage:
write, fsync, rename). --compare runs the same measurements with another checkout's
source first on PYTHONPATH, in a child process, right after this one's.

Memory: each 4K job runs in a fresh process and reports its peak RSS (VmHWM), for the
worst cases (an original just under 2048 px, which an x4 pass takes to 8188 px before the
final downscale; the same as JPEG, which adds a denoising pass), the GAN model, and a
49-megapixel original (downscale only).
"""

from __future__ import annotations

import argparse
import io
import os
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

import imagetune
from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.decode import DecodedImage, decode
from imagetune.engine.encode import encode
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.engine.resample import resize
from imagetune.engine.sizing import target_size
from imagetune.engine.tiling import tile_grid
from imagetune.jobs.models import Scale
from imagetune.signing import UrlSigner
from imagetune.storage.local import LocalStorage


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def interleaved(repeat: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The best time of each of ``runs`` over ``repeat`` rounds that run each once."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, work in runs.items():
            times[name].append(best_of(1, work))
    return {name: min(values) for name, values in times.items()}


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
    models: list[ModelName], scales: list[Scale], threads: int, repeat: int, shrink: int = 1
) -> None:
    photo = Image.fromarray(np.asarray(skimage.data.coffee()))
    if shrink > 1:  # --smoke: the same steps on a small image
        photo = photo.resize((photo.width // shrink, photo.height // shrink))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    data = buffer.getvalue()
    decoded = decode(data)
    floats = decoded.pixels.astype(np.float32) / 255
    upscaler = Upscaler(EngineConfig(threads=threads))
    print(
        f"input: coffee {photo.width}x{photo.height} PNG; {threads} threads; tile {upscaler.tile}"
    )
    print(
        "| model | scale | passes | engine | bare whole | ratio | bare tiles | ratio "
        "| decode | inference | resize | encode png | store |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for model in models:
        for scale in scales:
            passes = upscaler.passes_for(decoded, scale.pixels, model)
            request = ProcessRequest(scale.pixels, model=model)
            upscaler.process(data, request)  # load the networks, warm the caches
            names = " -> ".join(p.name for p in passes) or "(resampling only)"
            # The engine and its baselines in turns, each round all three: the ratio of
            # the bests compares runs from the same minutes on a noisy machine.
            runs: dict[str, Callable[[], object]] = {
                "engine": lambda request=request: upscaler.process(data, request)
            }
            if passes:
                runs["whole"] = lambda passes=passes: bare_whole(upscaler, passes, floats)
                runs["tiles"] = lambda passes=passes: bare_tiles(upscaler, passes, floats)
            best = interleaved(repeat, runs)
            engine = best["engine"]
            cells = phases(upscaler, data, decoded, passes, scale, repeat)
            if passes:
                whole, tiles = best["whole"], best["tiles"]
                bare = (
                    f"{whole:.2f} s | **{engine / whole:.2f}x** | {tiles:.2f} s "
                    f"| {engine / tiles:.2f}x"
                )
            else:
                bare = " | | | "
            print(
                f"| {model.value} | {scale.value} | {names} | {engine:.2f} s | {bare} | "
                + " | ".join(f"{cells[name]:.3f} s" for name in PHASES)
                + " |"
            )


PHASES = ("decode", "inference", "resize", "encode", "store")


def engine_resize(upscaler: Upscaler, pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The final resize as the engine runs it (with --compare, an older engine's resize
    may take no thread count)."""
    try:
        return resize(pixels, size, upscaler.config.threads)
    except TypeError:
        return resize(pixels, size)


def phases(
    upscaler: Upscaler,
    data: bytes,
    decoded: DecodedImage,
    passes: list,
    scale: Scale,
    repeat: int,
) -> dict[str, float]:
    """Each phase of one job on its own, as the engine runs it (best of ``repeat``)."""
    size = target_size(decoded.width, decoded.height, scale.pixels)
    upscaled = upscaler._run_passes(decoded.pixels, passes, None) if passes else decoded.pixels
    final = engine_resize(upscaler, upscaled, size)
    encoded = encode(final, OutputFormat.PNG, decoded.icc_profile)
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(
            Path(tmp), signer=UrlSigner(b"k" * 32), public_url="http://h", route="/files/"
        )
        return {
            "decode": best_of(repeat, lambda: decode(data)),
            "inference": best_of(repeat, lambda: upscaler._run_passes(decoded.pixels, passes, None))
            if passes
            else 0.0,
            "resize": best_of(repeat, lambda: engine_resize(upscaler, upscaled, size)),
            "encode": best_of(repeat, lambda: encode(final, OutputFormat.PNG, decoded.icc_profile)),
            "store": best_of(repeat, lambda: storage.write("results/r.png", encoded.data)),
        }


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report
# this benchmark's own peak; VmHWM belongs to the child's fresh address space.
MEMORY_JOB = """
import re, sys
from pathlib import Path
import imagetune
from imagetune.engine.base import ProcessRequest
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler

def hwm():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024

upscaler = Upscaler(EngineConfig(threads=int(sys.argv[2])))
before = hwm()
request = ProcessRequest(4096, model=ModelName(sys.argv[3]))  # a str would pick no model
result = upscaler.process(open(sys.argv[1], "rb").read(), request)
print(f"{result.width}x{result.height} {before} {hwm()}")
"""


MEMORY_CASES = [
    # (original size, model, encoding)
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


def memory(threads: int) -> None:
    print("\npeak memory of 4K jobs (a fresh process each; its VmHWM):")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for (width, height), model, encoding in MEMORY_CASES:
            texture = skimage.data.astronaut()
            image = Image.fromarray(texture).resize((width, height), Image.Resampling.BILINEAR)
            grain = rng.integers(-8, 8, (height, width, 1))
            noisy = Image.fromarray(
                np.clip(np.asarray(image, np.int16) + grain, 0, 255).astype(np.uint8)
            )
            path = Path(tmp) / f"{width}x{height}-{encoding}.img"
            write_original(path, noisy, encoding)
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-c", MEMORY_JOB, str(path), str(threads), model],
                check=True,
                capture_output=True,
                text=True,
            )
            elapsed = time.perf_counter() - started
            size, loaded, peak = child.stdout.split()
            print(
                f"  {width}x{height} {encoding:6s} {model:7s} -> {size:10s} peak {peak:>5s} MB "
                f"(interpreter + imports: {loaded} MB; {elapsed:.1f} s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="photo,anime,classic,enhance")
    parser.add_argument("--scales", default="1K,2K,4K")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (checks the bench)")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="SRC",
        help="also measure another checkout's src/ directory, in a child process",
    )
    args = parser.parse_args()
    shrink = 1
    if args.smoke:
        args.models, args.scales, args.repeat, args.no_memory = "photo", "1K", 1, True
        args.threads, shrink = 1, 4
    print("command: python bench/engine_speed.py " + shlex.join(sys.argv[1:]))
    if not args.no_speed:
        print(f"source: {Path(imagetune.__file__).parent}")
        speed(
            [ModelName(m) for m in args.models.split(",")],
            [Scale(s) for s in args.scales.split(",")],
            args.threads,
            args.repeat,
            shrink,
        )
    if not args.no_memory:
        memory(args.threads)
    for source in args.compare:
        argv = [a for a in sys.argv[1:] if a not in args.compare and a != "--compare"]
        print(flush=True)
        subprocess.run(
            [sys.executable, __file__, *argv],
            env={**os.environ, "PYTHONPATH": str(Path(source).resolve())},
            check=True,
        )


if __name__ == "__main__":
    main()
