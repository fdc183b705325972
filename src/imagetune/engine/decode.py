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
import pi_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from imagetune.engine.compression import denoise_level
from imagetune.engine.errors import UndecodableImage
from imagetune.engine.metadata import SourceMetadata, read_density, read_metadata

# pi-heif's Pillow plugin: HEIC/HEIF decoding through libheif (it has no encoder).
pi_heif.register_heif_opener()

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
"""Decoders imagetune accepts: nothing that runs external programs (EPS, PDF) or parses
documents (SVG)."""
ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
"""Whose frames are an animation. A HEIF file's other images are not (a burst, a depth
map: its primary image is the picture), nor a TIFF's pages; an AVIF sequence gives its
first frame."""

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

WEBP_ALPHA, WEBP_ANIMATION = 0x10, 0x02
"""VP8X flags."""

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_FRAMES = 1000


class TooManyPixels(ValueError):
    """The header declares more pixels (or frames) than allowed."""


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class Checked:
    """What checking an upload found: enough to judge a request before it is queued."""

    format: str
    width: int
    height: int
    """Upright (orientation applied), like the pixels the engine works on; the area is
    the same either way."""
    frames: int = 1
    """Above 1: an animation."""

    @property
    def pixels(self) -> int:
        """Of one frame."""
        return self.width * self.height


@dataclass(frozen=True)
class Animation:
    frames: tuple[Pixels, ...]
    """Every frame as a viewer shows it (drawn on the canvas, earlier frames disposed of
    as the file says), the first one included; all of one shape."""
    durations: tuple[int, ...]
    """Milliseconds each frame shows."""
    loop: int
    """Plays in all; 0: forever."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: Pixels
    """H x W x C: C is 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); uint8 or uint16."""
    format: str
    icc_profile: bytes | None
    """The source's ICC profile when it still describes ``pixels``."""
    denoise: int | None
    """The waifu2x noise level its compression artefacts call for; None: no artefacts."""
    metadata: SourceMetadata = field(default_factory=SourceMetadata)
    """The original's EXIF, XMP and IPTC, as found (written only on request)."""
    dpi: tuple[float, float] | None = None
    """Print density (JFIF, pHYs, TIFF or EXIF resolution); written to every result."""
    animation: Animation | None = None
    """An animated GIF, WebP or APNG: all its frames (``pixels`` is the first)."""

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


def decode(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_frames: int = DEFAULT_MAX_FRAMES
) -> DecodedImage:
    """Decode the image (every frame of an animation), apply its orientation, convert to
    a working layout. An animation's frames count against ``max_pixels`` together.

    Raises UndecodableImage with the reason when ``data`` is not a supported, intact image.
    """
    with _undecodable_errors() as seen:
        opened = _load(data, seen, max_pixels, max_frames, every_frame=False)
        icc = _valid_icc(opened.info.get("icc_profile"))
        denoise = denoise_level(opened, data)
        metadata = read_metadata(opened)
        dpi = read_density(opened)
        animation = None
        if _frame_count(opened) > 1:
            animation = _decode_frames(opened)
            pixels: Pixels = animation.frames[0]
        elif _is_deep_color_png(opened, data):
            pixels = _decode_deep_color_png(data, opened)
        elif opened.format == "HEIF" and opened.info.get("bit_depth", 8) > 8:
            pixels = _decode_deep_heif(data)
        else:
            pixels, icc = _to_pixels(_upright(opened), icc)
    return DecodedImage(
        pixels=pixels,
        format=seen["format"],
        icc_profile=icc,
        denoise=denoise,
        metadata=metadata,
        dpi=dpi,
        animation=animation,
    )


def check_decodable(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_frames: int = DEFAULT_MAX_FRAMES
) -> Checked:
    """What ``data`` is once every frame has decoded; UndecodableImage otherwise.

    The pixels are decoded and dropped: a truncated file is refused here, at upload,
    without the conversions a worker does later.
    """
    with _undecodable_errors() as seen:
        opened = _load(data, seen, max_pixels, max_frames)
        width, height = opened.size
        if _orientation(opened) in (5, 6, 7, 8):  # a quarter turn
            width, height = height, width
    return Checked(seen["format"], width, height, _frame_count(opened))


def _load(
    data: bytes, seen: dict[str, str], max_pixels: int, max_frames: int, every_frame: bool = True
) -> Image.Image:
    opened = Image.open(io.BytesIO(with_webp_alpha_flag(data)), formats=SUPPORTED_FORMATS)
    seen["format"] = opened.format or seen["format"]
    # From the header, before a single pixel is decoded: a bomb never allocates.
    width, height = opened.size
    if width * height > max_pixels:
        raise TooManyPixels(
            f"{width}x{height} is {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:g}"
        )
    frames = _frame_count(opened)
    if frames > max_frames:
        raise TooManyPixels(f"the animation has {frames} frames; the limit is {max_frames}")
    if frames * width * height > max_pixels:
        raise TooManyPixels(
            f"the animation's {frames} frames of {width}x{height} are "
            f"{frames * width * height / 1e6:.1f} megapixels; the limit is {max_pixels / 1e6:g}"
        )
    # Every frame is decoded here (a broken last frame is refused now, not by a worker;
    # ``decode`` decodes them all anyway); a HEIF file opens on its primary image, which
    # need not be its first.
    for index in range(frames) if frames > 1 and every_frame else ():
        opened.seek(index)
        opened.load()
    if opened.format != "HEIF":
        opened.seek(0)
    opened.load()
    return opened


def with_webp_alpha_flag(data: bytes) -> bytes:
    """An animated WebP with VP8X's alpha flag set (anything else as it is). The
    specification sets it when any frame has alpha, but libwebp's animation encoder (so
    gif2webp, img2webp, Pillow) leaves it clear when only a later frame's sub-rectangle is
    transparent, and Pillow then reads every frame without alpha."""
    if data[8:16] != b"WEBPVP8X" or len(data) < 21 or not data[20] & WEBP_ANIMATION:
        return data
    return data[:20] + bytes([data[20] | WEBP_ALPHA]) + data[21:]


def _frame_count(image: Image.Image) -> int:
    if image.format not in ANIMATED_FORMATS or not getattr(image, "is_animated", False):
        return 1
    return int(getattr(image, "n_frames", 1))


def _decode_frames(image: Image.Image) -> Animation:
    frames, durations = [], []
    orientation = _orientation(image)
    for index in range(_frame_count(image)):
        image.seek(index)
        # As shown: Pillow draws each frame on the canvas, disposal and blending applied.
        frames.append(apply_orientation(np.asarray(image.convert("RGBA")), orientation))
        durations.append(int(image.info.get("duration", 0)))
    if all(bool((frame[:, :, 3] == 255).all()) for frame in frames):
        frames = [np.ascontiguousarray(frame[:, :, :3]) for frame in frames]
    image.seek(0)
    return Animation(tuple(frames), tuple(durations), _plays(image))


def _plays(image: Image.Image) -> int:
    """Plays in all (0: forever), from the file's own way of saying it."""
    loop = image.info.get("loop")
    if image.format == "GIF":
        # GIF's NETSCAPE extension counts repeats after the first play; without it a
        # GIF plays once.
        return 1 if loop is None else 0 if loop == 0 else int(loop) + 1
    return 0 if loop is None else int(loop)


def _orientation(image: Image.Image) -> int:
    if image.format == "HEIF":  # libheif has applied the file's own transforms
        return 1
    return int(image.getexif().get(0x0112, 1))


def _upright(image: Image.Image) -> Image.Image:
    return image if image.format == "HEIF" else ImageOps.exif_transpose(image)


def _decode_deep_heif(data: bytes) -> Pixels:
    """A 10- or 12-bit HEIF's primary image at 16 bits (Pillow's plugin gives 8)."""
    heif = pi_heif.open_heif(data, convert_hdr_to_8bit=False)
    pixels = np.asarray(heif)
    if pixels.dtype != np.uint16:
        raise ValueError(f"{heif.mode} HEIF decoded to {pixels.dtype}")
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


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
