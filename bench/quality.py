"""Quality at x4 on real photos: PSNR and SSIM on luma against the original.

Run from the repository root:

    .venv/bin/python bench/quality.py [--jpeg 75,90,95] [--x8] [--chains]
    .venv/bin/python bench/quality.py --levels 40,50,60,70,75,80,85,90,95 --models photo
    .venv/bin/python bench/quality.py --smoke    # seconds: does it still run?

Six of scikit-image's bundled photos are cropped to a multiple of 4, downscaled x4 with
bicubic, and upscaled back to the original size by the real engine (every model) and by
Lanczos. The "JPEG-q" variants save the small image as JPEG at quality q first, the way
users upload; the engine sees the JPEG bytes and decides itself whether to denoise.
--x8 also compares, at x8, one SPAN x4 pass + Lanczos with two network passes; --chains
compares x2 and x4 chains between x2 and x4, which decides the photo recipe there.
--levels Q,Q,... compares, at x4 on JPEGs of those qualities, SPAN with the waifu2x photo
denoiser at each noise level (0-3, then Lanczos): the engine's table of denoise level per
estimated quality (imagetune.engine.compression.DENOISE_LEVELS) follows what it prints.

--smoke is every table in miniature: one photo (chelsea, its centre 192 px square), photo
and classic against Lanczos, clean and JPEG-75, plus --x8 and --chains, on 1 thread. Its
figures mean nothing; it shows the benchmark still works.
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import time

import numpy as np
import skimage.data
from PIL import Image
from skimage.metrics import structural_similarity

from imagetune.engine.compression import jpeg_quality, level_for_quality
from imagetune.engine.decode import decode
from imagetune.engine.models import ModelName
from imagetune.engine.networks import NETWORKS
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.engine.resample import resize

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"]

SMOKE = {
    "photos": "chelsea",
    "crop": 192,
    "models": "photo,classic",
    "x8": True,
    "chains": True,
    "levels": "75",
    # ncnn's threads spin while they wait for each other: on a busy machine 2 threads take
    # several times longer than 1.
    "threads": 1,
}


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255


def scores(result: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    a, b = luma(result), luma(original)
    psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    ssim = structural_similarity(a, b, data_range=255)
    return float(psnr), float(ssim)


def photos(names: list[str], factor: int, crop: int) -> list[tuple[str, np.ndarray]]:
    """Each photo, at most ``crop`` pixels square from its centre (0: whole), its sides
    a multiple of ``factor``."""
    out = []
    for name in names:
        pixels = np.asarray(getattr(skimage.data, name)())[..., :3]
        if crop:
            top, left = [max(0, (side - crop) // 2) for side in pixels.shape[:2]]
            pixels = pixels[top : top + crop, left : left + crop]
        h, w = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
        out.append((name, np.ascontiguousarray(pixels[:h, :w])))
    return out


def small_file(original: np.ndarray, factor: int, jpeg: int | None) -> bytes:
    h, w = original.shape[:2]
    small = Image.fromarray(original).resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    if jpeg is None:
        small.save(buffer, "PNG")
    else:
        small.save(buffer, "JPEG", quality=jpeg)
    return buffer.getvalue()


def lanczos(data: bytes, size: tuple[int, int]) -> np.ndarray:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def x4_table(
    upscaler: Upscaler,
    names: list[str],
    crop: int,
    models: list[ModelName],
    variants: list[int | None],
) -> None:
    print("x4 on", ", ".join(names))
    header = f"{'variant':10s} {'method':9s} {'PSNR-Y':>7s} {'SSIM-Y':>7s}"
    header += f" {'vs Lanczos':>11s} {'s/image':>8s}"
    print(header)
    for jpeg in variants:
        label = "clean" if jpeg is None else f"JPEG-{jpeg}"
        rows: dict[str, list[tuple[float, float, float]]] = {}
        for _name, original in photos(names, 4, crop):
            data = small_file(original, 4, jpeg)
            h, w = original.shape[:2]
            started = time.perf_counter()
            rows.setdefault("lanczos", []).append(
                (*scores(lanczos(data, (w, h)), original), time.perf_counter() - started)
            )
            decoded = decode(data)
            for model in models:
                started = time.perf_counter()
                result = upscaler.upscale(decoded, max(w, h), model)
                elapsed = time.perf_counter() - started
                rows.setdefault(model.value, []).append((*scores(result, original), elapsed))
        base = float(np.mean([r[0] for r in rows["lanczos"]]))
        for method, values in rows.items():
            psnr = float(np.mean([v[0] for v in values]))
            ssim = float(np.mean([v[1] for v in values]))
            seconds = float(np.mean([v[2] for v in values]))
            print(
                f"{label:10s} {method:9s} {psnr:7.2f} {ssim:7.3f} {psnr - base:+10.2f} "
                f"{seconds:8.2f}"
            )


def x8_table(upscaler: Upscaler, names: list[str], crop: int) -> None:
    x4 = upscaler.network(NETWORKS["span-x4"]).run
    x2 = upscaler.network(NETWORKS["span-x2"]).run
    results: dict[str, list[float]] = {}
    for _name, original in photos(names, 8, crop):
        h, w = original.shape[:2]
        data = small_file(original, 8, None)
        small = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255

        def as_image(values: np.ndarray) -> np.ndarray:
            return np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)

        once = as_image(x4(small))
        results.setdefault("Lanczos x8", []).append(scores(lanczos(data, (w, h)), original)[0])
        resized = np.asarray(Image.fromarray(once).resize((w, h), Image.Resampling.LANCZOS))
        results.setdefault("SPAN x4 + Lanczos x2 (engine)", []).append(scores(resized, original)[0])
        twice = as_image(x2(once.astype(np.float32) / 255))
        results.setdefault("SPAN x4 -> SPAN x2", []).append(scores(twice, original)[0])
    print("\nx8 on the same photos (PSNR-Y):")
    for method, values in results.items():
        print(f"  {method:32s} {np.mean(values):6.2f}")


def chains_table(upscaler: Upscaler, names: list[str], crop: int) -> None:
    """Between x2 and x4: an x2 chain plus a Lanczos upscale, or an x4 chain plus a
    downscale? (The engine's photo recipe follows what this prints.)"""
    cases = [
        (2.5, None, ["span-x2"], ["span-x4"]),
        (3.0, None, ["span-x2"], ["span-x4"]),
        (2.5, 75, ["waifu2x-photo-x2-denoise2"], ["waifu2x-photo-x2-denoise2", "span-x2"]),
        (3.0, 75, ["waifu2x-photo-x2-denoise2"], ["waifu2x-photo-x2-denoise2", "span-x2"]),
        (4.0, 75, ["waifu2x-photo-x2-denoise2"], ["waifu2x-photo-x2-denoise2", "span-x2"]),
    ]
    print("\nbetween x2 and x4 (PSNR-Y gain over Lanczos; seconds per image):")
    for factor, jpeg, x2_chain, x4_chain in cases:
        gains: dict[str, list[float]] = {}
        for _name, original in photos(names, 12, crop):
            h, w = original.shape[:2]
            small = Image.fromarray(original).resize(
                (round(w / factor), round(h / factor)), Image.Resampling.BICUBIC
            )
            buffer = io.BytesIO()
            small.save(buffer, "PNG") if jpeg is None else small.save(buffer, "JPEG", quality=jpeg)
            data = buffer.getvalue()
            base = scores(lanczos(data, (w, h)), original)[0]
            decoded = decode(data)
            for label, chain in (("x2 chain", x2_chain), ("x4 chain", x4_chain)):
                started = time.perf_counter()
                specs = [NETWORKS[name] for name in chain]
                result = resize(upscaler._run_passes(decoded.pixels, specs, None), (w, h))
                gains.setdefault(label, []).append(scores(result, original)[0] - base)
                gains.setdefault(label + " s", []).append(time.perf_counter() - started)
        variant = "clean" if jpeg is None else f"JPEG-{jpeg}"
        print(
            f"  x{factor} {variant:8s} "
            f"{' -> '.join(x2_chain)} + Lanczos: {np.mean(gains['x2 chain']):+.2f} dB "
            f"({np.mean(gains['x2 chain s']):.2f} s) | "
            f"{' -> '.join(x4_chain)} + Lanczos: {np.mean(gains['x4 chain']):+.2f} dB "
            f"({np.mean(gains['x4 chain s']):.2f} s)"
        )


def levels_table(upscaler: Upscaler, names: list[str], crop: int, qualities: list[int]) -> None:
    """x4 on JPEGs of each quality: SPAN x4, or waifu2x photo x2 at each noise level plus
    Lanczos x2; which is best, and what the engine picks from the file."""
    candidates = {"span": ["span-x4"]} | {
        f"denoise{level}": [f"waifu2x-photo-x2-denoise{level}"] for level in range(4)
    }
    print("\nJPEG noise level at x4 (PSNR-Y gain over Lanczos):")
    print(
        f"| quality | estimated | {' | '.join(candidates)} | best | engine picks | engine's gain |"
    )
    print("|---" * (len(candidates) + 5) + "|")
    for quality in qualities:
        gains: dict[str, list[float]] = {}
        estimated = []
        for _name, original in photos(names, 4, crop):
            h, w = original.shape[:2]
            data = small_file(original, 4, quality)
            estimated.append(jpeg_quality(Image.open(io.BytesIO(data))))
            base = scores(lanczos(data, (w, h)), original)[0]
            decoded = decode(data)
            for label, chain in candidates.items():
                specs = [NETWORKS[name] for name in chain]
                result = resize(upscaler._run_passes(decoded.pixels, specs, None), (w, h))
                gains.setdefault(label, []).append(scores(result, original)[0] - base)
        means = {label: float(np.mean(values)) for label, values in gains.items()}
        best = max(means, key=lambda label: means[label])
        level = level_for_quality(estimated[0])
        picked = "span" if level is None else f"denoise{level}"
        print(
            f"| {quality} | {estimated[0]} | "
            + " | ".join(f"{means[label]:+.2f}" for label in candidates)
            + f" | {best} | {picked} | {means[picked]:+.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jpeg", default="75", help="comma-separated JPEG qualities")
    parser.add_argument("--x8", action="store_true")
    parser.add_argument("--chains", action="store_true")
    parser.add_argument("--levels", default="", help="JPEG qualities for the noise-level table")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--photos", default=",".join(PHOTOS), help="scikit-image photo names")
    parser.add_argument("--crop", type=int, default=0, help="photos cropped to this square")
    parser.add_argument("--models", default=",".join(ModelName), help="engine models for x4")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**SMOKE)  # options given explicitly still win
        args = parser.parse_args()
    print("command: python bench/quality.py " + shlex.join(sys.argv[1:]))
    upscaler = Upscaler(EngineConfig(threads=args.threads))
    names = args.photos.split(",")
    models = [ModelName(m) for m in args.models.split(",")]
    variants: list[int | None] = [None] + [int(q) for q in args.jpeg.split(",") if q]
    x4_table(upscaler, names, args.crop, models, variants)
    if args.x8:
        x8_table(upscaler, names, args.crop)
    if args.chains:
        chains_table(upscaler, names, args.crop)
    if args.levels:
        levels_table(upscaler, names, args.crop, [int(q) for q in args.levels.split(",")])


if __name__ == "__main__":
    main()
