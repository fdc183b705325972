"""Decoding uploads into working images, and checking that an upload decodes at all."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imagetune.errors import InvalidImage

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
"""Decoders imagetune accepts: nothing that runs external programs (EPS, PDF) or parses
documents (SVG)."""

WORKING_MODES = ("L", "LA", "RGB", "RGBA", "I;16")

_CONVERSIONS = {
    "1": "L",
    "P": "RGBA",  # narrowed to RGB below when the palette has no transparency
    "PA": "RGBA",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    """Orientation-corrected, in one of WORKING_MODES."""
    format: str
    icc_profile: bytes | None


def decode(data: bytes) -> DecodedImage:
    """Decode the first frame, apply EXIF orientation, convert to a working mode.

    Raises InvalidImage with the reason when ``data`` is not a supported, intact image.
    """
    fmt = "image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
            fmt = opened.format or fmt
            opened.seek(0)
            opened.load()
            icc = opened.info.get("icc_profile")
            source_mode = opened.mode
            working = to_working_mode(ImageOps.exif_transpose(opened))
    except UnidentifiedImageError as e:
        raise InvalidImage("not a supported image format") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InvalidImage("image has too many pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        raise InvalidImage(f"cannot decode {fmt} data ({e})") from e
    return DecodedImage(
        image=working,
        format=fmt,
        # A CMYK (or other non-matching) profile would mislabel the converted pixels.
        icc_profile=icc if isinstance(icc, bytes) and working.mode == source_mode else None,
    )


def to_working_mode(image: Image.Image) -> Image.Image:
    if image.mode in WORKING_MODES:
        return image
    if image.mode in ("I", "I;16B", "I;16L", "I;16N", "F"):
        # Deep grayscale: keep 16 bits, clipping wider integer or float samples.
        samples = np.clip(np.asarray(image, dtype=np.float64), 0, 65535).astype(np.uint16)
        return Image.fromarray(samples)
    mode = _CONVERSIONS.get(image.mode, "RGB")
    if image.mode == "P" and "transparency" not in image.info:
        mode = "RGB"
    return image.convert(mode)
