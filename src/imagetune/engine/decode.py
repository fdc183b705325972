"""Decoding uploads into pixel arrays, and checking that an upload decodes at all."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from imagetune.engine.compression import carries_artefacts
from imagetune.engine.errors import UndecodableImage
from imagetune.engine.metadata import SourceMetadata, read_metadata

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
"""Decoders imagetune accepts: nothing that runs external programs (EPS, PDF) or parses
documents (SVG)."""

Pixels = npt.NDArray[Any]
"""uint8 or uint16 samples."""

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
_DEEP_GRAY = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")

DEFAULT_MAX_PIXELS = 50_000_000


class TooManyPixels(ValueError):
    """The header declares more pixels than allowed."""


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class DecodedImage:
    pixels: Pixels
    """H x W x C: C is 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); uint8 or uint16."""
    format: str
    icc_profile: bytes | None
    """The source's ICC profile when it still describes ``pixels``."""
    lossy: bool
    """The file carries lossy-compression artefacts (JPEG <= q90, lossy WebP)."""
    metadata: SourceMetadata = field(default_factory=SourceMetadata)
    """The original's EXIF, XMP and IPTC, as found (written only on request)."""

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode the first frame, apply EXIF orientation, convert to a working layout.

    Raises UndecodableImage with the reason when ``data`` is not a supported, intact image.
    """
    with _undecodable_errors() as seen:
        opened = _load(data, seen, max_pixels)
        icc = _valid_icc(opened.info.get("icc_profile"))
        lossy = carries_artefacts(opened, data)
        metadata = read_metadata(opened)
        if _is_deep_color_png(opened, data):
            pixels: Pixels = _decode_deep_color_png(data, opened)
        else:
            pixels, icc = _to_pixels(ImageOps.exif_transpose(opened), icc)
    return DecodedImage(
        pixels=pixels, format=seen["format"], icc_profile=icc, lossy=lossy, metadata=metadata
    )


@dataclass(frozen=True)
class Checked:
    """What checking an upload found."""

    format: str
    width: int
    height: int
    """As stored, before EXIF orientation: the area is the same either way."""

    @property
    def pixels(self) -> int:
        return self.width * self.height


def check_decodable(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Checked:
    """The format and size of ``data`` once its first frame has decoded;
    UndecodableImage otherwise.

    The pixels are decoded and dropped: a truncated file is refused here, at upload,
    without the conversions a worker does later.
    """
    with _undecodable_errors() as seen:
        width, height = _load(data, seen, max_pixels).size
    return Checked(seen["format"], width, height)


def _load(data: bytes, seen: dict[str, str], max_pixels: int) -> Image.Image:
    opened = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    seen["format"] = opened.format or seen["format"]
    # From the header, before a single pixel is decoded: a bomb never allocates.
    width, height = opened.size
    if width * height > max_pixels:
        raise TooManyPixels(
            f"{width}x{height} is {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:g}"
        )
    opened.seek(0)
    opened.load()
    return opened


@contextmanager
def _undecodable_errors() -> Iterator[dict[str, str]]:
    """Turns every decoder failure into UndecodableImage, naming the format once known."""
    seen = {"format": "image"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield seen
    except UnidentifiedImageError as e:
        raise UndecodableImage("not a supported image format") from e
    except TooManyPixels as e:
        raise UndecodableImage(str(e)) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UndecodableImage("image has too many pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:
        # The decoder's own words go to the log only (UndecodableImage.internal).
        raise UndecodableImage(f"cannot decode {seen['format']} data", str(e)) from e


def _valid_icc(icc: object) -> bytes | None:
    """The profile if LittleCMS can parse it; a broken one is dropped, not passed on."""
    if not isinstance(icc, bytes) or not icc:
        return None
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError):
        return None
    return icc


def _to_pixels(image: Image.Image, icc: bytes | None) -> tuple[Pixels, bytes | None]:
    if image.mode in _DEEP_GRAY:
        samples = np.clip(np.asarray(image, dtype=np.float64), 0, 65535).astype(np.uint16)
        return samples[:, :, None], icc
    if image.mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(image, icc)), None
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        mode = _CONVERSIONS.get(image.mode, "RGB")
        if image.mode == "P" and "transparency" not in image.info:
            mode = "RGB"
        image = image.convert(mode)
    pixels = np.asarray(image)
    return (pixels[:, :, None] if pixels.ndim == 2 else pixels), icc


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    # Print profiles differ a lot from Pillow's naive formula; use the file's own profile.
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, _SRGB, outputMode="RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return image.convert("RGB")


def _is_deep_color_png(image: Image.Image, data: bytes) -> bool:
    # Pillow reduces 16-bit colour PNGs to 8 bits; IHDR byte 24 is the bit depth and
    # byte 25 the colour type (2 = RGB, 6 = RGBA).
    return image.format == "PNG" and len(data) > 26 and data[24] == 16 and data[25] in (2, 6)


def _decode_deep_color_png(data: bytes, header: Image.Image) -> npt.NDArray[Any]:
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16 or decoded.ndim != 3:
        raise ValueError("16-bit PNG data is corrupt")
    order = [2, 1, 0, 3][: decoded.shape[2]]  # OpenCV's BGR(A) to RGB(A)
    pixels = np.ascontiguousarray(decoded[:, :, order])
    return apply_orientation(pixels, header.getexif().get(0x0112, 1))


def apply_orientation(pixels: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """EXIF orientation on an array, as ImageOps.exif_transpose does on an image."""
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[:, ::-1],  # transverse
        8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return pixels if transform is None else np.ascontiguousarray(transform(pixels))
