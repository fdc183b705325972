"""Output formats: encode time and size at 4K (which AVIF settings), and animations.

Run from the repository root:

    .venv/bin/python bench/formats.py [--threads 2] [--frames 24]
    .venv/bin/python bench/formats.py --smoke    # seconds: does it still run?

Encoders: a real photo (scikit-image's coffee) upscaled by the engine to 4K (photo model,
so the pixels are what a job encodes) is encoded as PNG, JPEG, WebP and AVIF at several
quality and speed settings. Each row: best-of-2 time, size, and PSNR of the decoded file
against the pixels (what the format lost). The engine's AVIF setting
(imagetune.engine.encode.AVIF_QUALITY / AVIF_SPEED) follows this table.

Animations: a GIF of --frames frames (a 160x120 photo crop panning, every third frame a
repeat of an earlier one) through the whole engine at 1K, into APNG, animated WebP and
GIF: seconds per job and per frame, network time (inference) and encode time, and the
time saved by upscaling repeated frames once (the same animation with every frame
distinct, after it). The networks are loaded by an untimed job first.

Figures are noisy on a shared machine: read ratios within one run.
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import time
from collections.abc import Callable

import numpy as np
import skimage.data
from PIL import Image

from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.decode import decode
from imagetune.engine.encode import AVIF_QUALITY, AVIF_SPEED, encode
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler

SMOKE = {"long_side": 128, "frames": 3, "threads": 1, "avif": "80:10", "model": "classic"}


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def encoders(upscaler: Upscaler, long_side: int, avif: list[tuple[int, int]]) -> None:
    source = Image.fromarray(skimage.data.coffee())
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    pixels = upscaler.upscale(decode(buffer.getvalue()), long_side, ModelName.PHOTO)
    height, width = pixels.shape[:2]
    print(f"\nencoding a {width}x{height} engine result (coffee, photo model):")
    print("| format | setting | time | size | PSNR of the file |")
    print("|---|---|---|---|---|")
    rows: list[tuple[str, str, Callable[[], bytes]]] = [
        ("png", "fpng", lambda: encode(pixels, OutputFormat.PNG, None).data),
        ("jpeg", "q92 4:4:4", lambda: encode(pixels, OutputFormat.JPEG, None).data),
        ("webp", "q90 method 4", lambda: encode(pixels, OutputFormat.WEBP, None).data),
    ]
    for quality, speed in avif:

        def avif_file(quality: int = quality, speed: int = speed) -> bytes:
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, "AVIF", quality=quality, speed=speed)
            return out.getvalue()

        engine = " (engine)" if (quality, speed) == (AVIF_QUALITY, AVIF_SPEED) else ""
        rows.append(("avif", f"q{quality} speed {speed}{engine}", avif_file))
    for fmt, setting, work in rows:
        seconds, data = best_of(2, work)
        assert isinstance(data, bytes)
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        print(
            f"| {fmt} | {setting} | {seconds * 1000:.0f} ms | {len(data) / 1e6:.2f} MB "
            f"| {psnr(decoded, pixels):.1f} dB |"
        )


def animation(frames: int, repeats: bool) -> bytes:
    photo = Image.fromarray(skimage.data.astronaut())
    images = []
    for index in range(frames):
        shown = index // 3 * 2 if repeats and index % 3 == 2 else index  # a repeat
        images.append(photo.crop((shown * 8, 100, shown * 8 + 160, 220)))
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


def animations(upscaler: Upscaler, frames: int, long_side: int, model: ModelName) -> None:
    print(f"\nan animated GIF of {frames} frames of 160x120 to {long_side} px ({model} model):")
    print("| output | frames distinct | job | per frame | inference | encode |")
    print("|---|---|---|---|---|---|")
    # Untimed: the networks load on first use.
    upscaler.process(animation(2, False), ProcessRequest(long_side, model))
    for repeats in (True, False):
        data = animation(frames, repeats)
        distinct = len({frame.tobytes() for frame in decode(data).animation.frames})  # type: ignore[union-attr]
        for fmt in (OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.GIF):
            phases: dict[str, float] = {}

            def note(phase: str, seconds: float, phases: dict[str, float] = phases) -> None:
                phases[phase] = phases.get(phase, 0.0) + seconds

            request = ProcessRequest(long_side, model, output_format=fmt, on_phase=note)
            started = time.perf_counter()
            result = upscaler.process(data, request)
            seconds = time.perf_counter() - started
            shown = Image.open(io.BytesIO(result.data))
            label = "APNG" if fmt is OutputFormat.PNG else fmt.value
            print(
                f"| {label} ({getattr(shown, 'n_frames', 1)} frames out) | {distinct} of "
                f"{frames} | {seconds:.2f} s | {seconds / frames:.3f} s | "
                f"{phases.get('inference', 0.0):.2f} s | {phases.get('encode', 0.0):.2f} s |"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--long-side", type=int, default=4096)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--model", default="photo", help="the engine model for animations")
    parser.add_argument(
        "--avif", default="70:6,80:6,60:8,70:8,80:8,70:10,80:10,90:10", help="quality:speed,..."
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**SMOKE)  # options given explicitly still win
        args = parser.parse_args()
    print("command: python bench/formats.py " + shlex.join(sys.argv[1:]))
    upscaler = Upscaler(EngineConfig(threads=args.threads))
    avif = [(int(q), int(s)) for q, s in (pair.split(":") for pair in args.avif.split(","))]
    encoders(upscaler, args.long_side, avif)
    animations(upscaler, args.frames, min(args.long_side, 1024), ModelName(args.model))


if __name__ == "__main__":
    main()
