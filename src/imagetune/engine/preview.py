"""A small picture of an original, for a browser that cannot decode its format (HEIC)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from imagetune.engine.decode import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, decode

PREVIEW_LONG_SIDE = 2048
"""Enough for the playground's slider at 2K; a 4K result's left side is drawn stretched."""


def preview(
    data: bytes,
    long_side: int = PREVIEW_LONG_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> tuple[bytes, str, tuple[int, int]]:
    """(encoded preview, media type, the image's own upright width and height): the
    first frame at most ``long_side`` on its longer side, as JPEG (quality 90) or PNG when
    it has alpha. InvalidImage as ``decode`` raises it."""
    decoded = decode(data, max_pixels, max_frames)
    pixels = decoded.pixels
    size = (decoded.width, decoded.height)
    if pixels.dtype != np.uint8:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.shape[2] == 2:
        image = _gray_alpha(pixels)
    else:
        image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    params: dict[str, object] = {"icc_profile": decoded.icc_profile} if decoded.icc_profile else {}
    if decoded.has_alpha:
        image.save(buffer, "PNG", compress_level=1, **params)
        return buffer.getvalue(), "image/png", size
    image.save(buffer, "JPEG", quality=90, **params)
    return buffer.getvalue(), "image/jpeg", size


def _gray_alpha(pixels: np.ndarray) -> Image.Image:
    gray, alpha = pixels[:, :, 0], pixels[:, :, 1]
    return Image.merge("LA", (Image.fromarray(gray), Image.fromarray(alpha)))
