"""Fast PNG encoding for 8-bit RGB and RGBA results, with fpng.

fpng encodes an 11-megapixel RGB result about six times faster than Pillow at zlib
level 1, for a file of about the same size that decodes to the same pixels (ENGINE-NOTES,
bench/engine_speed.py): on a 4K job from a small original that was the largest cost
after inference. It only writes 8-bit RGB and RGBA, so gray, gray+alpha and 16-bit
results stay with Pillow and OpenCV (imagetune.engine.encode).

The file is bare (IHDR, fpng's private ``fdEC`` chunk, IDAT, IEND): the ICC profile and
other metadata chunks are inserted after IHDR by the caller, as for OpenCV's output.
"""

from __future__ import annotations

import fpng
import numpy as np

from imagetune.engine.decode import Pixels


def encode_png_fast(pixels: Pixels) -> bytes | None:
    """``pixels`` (H x W x C) as a PNG; None for what fpng cannot write (anything but
    8-bit RGB or RGBA)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    data: bytes = fpng.from_ndarray(np.ascontiguousarray(pixels))
    return data
