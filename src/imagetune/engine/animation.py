"""Animations: which requests they allow, and upscaling each distinct frame once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from imagetune.engine.base import OutputFormat
from imagetune.engine.decode import Checked, Pixels
from imagetune.engine.errors import AnimationTooLarge, CannotAnimate
from imagetune.engine.sizing import target_size

DEFAULT_MAX_OUTPUT_PIXELS = 200_000_000
"""All of an animation's result frames together: a worker holds them all before the
writer compresses them (about 4 bytes a pixel, 800 MB here)."""


def check_output(info: Checked, long_side: int, fmt: OutputFormat, max_output_pixels: int) -> None:
    """Refuse an animation the request cannot make: a still-only format (CannotAnimate)
    or more result pixels, all frames together, than ``max_output_pixels``."""
    if info.frames <= 1:
        return
    if not fmt.animates:
        raise CannotAnimate(
            f"{fmt.value} cannot hold an animation (this image has {info.frames} frames): "
            "choose png (APNG), webp or gif"
        )
    width, height = target_size(info.width, info.height, long_side)
    total = info.frames * width * height
    if total > max_output_pixels:
        raise AnimationTooLarge(
            f"{info.frames} frames of {width}x{height} are {total / 1e6:.0f} megapixels; "
            f"the limit is {max_output_pixels / 1e6:g} (a smaller scale or fewer frames fits)"
        )


def distinct_frames(frames: Sequence[Pixels]) -> tuple[list[Pixels], list[int]]:
    """The frames that differ (first appearance order), and for each frame the index of
    its distinct frame: a frame repeated anywhere in the animation is upscaled once."""
    seen: dict[bytes, int] = {}
    distinct: list[Pixels] = []
    mapping: list[int] = []
    for frame in frames:
        key = hashlib.blake2b(frame.tobytes(), digest_size=16).digest() + repr(frame.shape).encode()
        if key not in seen:
            seen[key] = len(distinct)
            distinct.append(frame)
        mapping.append(seen[key])
    return distinct, mapping


def upscale_frames(frames: Sequence[Pixels], upscale: Callable[[Pixels], Pixels]) -> list[Pixels]:
    """Each frame through ``upscale``; equal frames share one result."""
    distinct, mapping = distinct_frames(frames)
    done = [upscale(frame) for frame in distinct]
    return [done[index] for index in mapping]
