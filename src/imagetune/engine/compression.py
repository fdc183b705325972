"""Telling from the file how much lossy-compression damage it carries."""

from __future__ import annotations

import numpy as np
from PIL import Image

# The IJG (libjpeg) standard luminance quantisation table, in natural order.
_IJG_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.float64,
)  # fmt: skip

DENOISE_LEVELS = ((74, 3), (82, 2), (94, 0))
"""(highest estimated JPEG quality, waifu2x noise level), in rising quality: a JPEG of
that quality or less gets that level; above the last, no denoising (SPAN).

Measured at x4 on six photos, PSNR-Y gain over Lanczos (bench/quality.py --levels): level
3 is best up to quality 70 (+0.61..+0.66 dB, level 2 0.02-0.04 dB less), 2 and 3 tie at
75, level 2 is best at 80 (+0.62), level 0 from 85 to 92 (+0.63..+0.88, where level 2
gave +0.61..+0.72 and SPAN +0.17..+0.67); at 95 SPAN equals level 0 (+0.98) at a fifth
of the time. Level 1 was never best."""
LOSSY_WEBP_LEVEL = 2
"""A lossy WebP's quality cannot be read from the file: the middle level."""


def jpeg_quality(image: Image.Image) -> int | None:
    """Estimated IJG quality (1-100) of a JPEG from its luminance quantisation table."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    natural = np.asarray(tables[0], dtype=np.float64)  # Pillow gives natural order
    # Invert libjpeg's scaling: table = (base * s + 50) / 100, quality from s.
    scale = float(np.mean(natural * 100 / _IJG_LUMINANCE))
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return round(min(100.0, max(1.0, quality)))


def denoise_level(image: Image.Image, data: bytes) -> int | None:
    """The waifu2x noise level the file's compression calls for; None when it leaves no
    visible artefacts (PNG, lossless WebP, a JPEG above the table's last quality)."""
    if image.format == "JPEG":
        return level_for_quality(jpeg_quality(image))
    if image.format == "WEBP" and webp_is_lossy(data):
        return LOSSY_WEBP_LEVEL
    return None


def level_for_quality(quality: int | None) -> int | None:
    """The noise level for a JPEG of estimated ``quality`` (None: tables not readable,
    treated as the lowest quality)."""
    for highest, level in DENOISE_LEVELS:
        if quality is None or quality <= highest:
            return level
    return None


def webp_is_lossy(data: bytes) -> bool:
    """Whether the first image chunk of a WebP file is VP8 (lossy) rather than VP8L."""
    offset = 12
    while offset + 8 <= len(data):
        fourcc = data[offset : offset + 4]
        if fourcc in (b"VP8 ", b"ANMF"):
            return True
        if fourcc == b"VP8L":
            return False
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        offset += 8 + size + (size & 1)
    return True
