"""Classical resampling to an exact size (Lanczos; antialiased when shrinking)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

_MODES = {1: "L", 3: "RGB"}


def resize(pixels: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[Any]:
    """``pixels`` (H x W x C) resized to ``size`` = (width, height), same dtype.

    8-bit gray and RGB use Pillow's native resampler; deeper or float samples go
    channel by channel through 32-bit float, so nothing is rounded to 8 bits.
    """
    height, width = pixels.shape[:2]
    if (width, height) == size:
        return pixels
    channels = pixels.shape[2]
    if pixels.dtype == np.uint8 and channels in _MODES:
        image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, _MODES[channels])
        out = np.asarray(image.resize(size, Image.Resampling.LANCZOS))
        return out[:, :, None] if channels == 1 else out
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32), "F").resize(
                size, Image.Resampling.LANCZOS
            )
        )
        for c in range(channels)
    ]
    stacked = np.stack(planes, axis=-1)
    if np.issubdtype(pixels.dtype, np.integer):
        limit = np.iinfo(pixels.dtype).max
        rounded: npt.NDArray[Any] = np.clip(np.rint(stacked), 0, limit).astype(pixels.dtype)
        return rounded
    return stacked.astype(pixels.dtype)
