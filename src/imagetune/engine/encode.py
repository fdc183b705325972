"""Encoding results: PNG (8 or 16 bits), JPEG, WebP, AVIF, GIF; animations as APNG,
animated WebP or GIF."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from imagetune.engine.base import OutputFormat, ProcessedImage
from imagetune.engine.decode import Pixels, with_webp_alpha_flag
from imagetune.engine.metadata import (
    SourceMetadata,
    add_density_to_png,
    add_iptc_to_jpeg,
    add_to_png,
    pillow_params,
    with_density,
)
from imagetune.engine.png import encode_png_fast

PNG_COMPRESS_LEVEL = 1
"""zlib level 1: several times faster than the default 6 on 4K photos, files ~10% larger
(bench/engine_speed.py)."""
JPEG_QUALITY = 92
WEBP_QUALITY = 90
AVIF_QUALITY = 80
AVIF_SPEED = 10
"""On a 4K photo result (bench/formats.py): quality 80 at speed 10 gave the same PSNR as
at speed 8 (45.0 dB) in a third of the time and 9% more bytes: 41% of JPEG q92's size
(at 47.9 dB), WebP q90's size at 1.4 dB more, and faster than WebP; about 7x JPEG's
encode time. Speed 6 took twice speed 8 for 12% less."""
GIF_ALPHA_THRESHOLD = 128
"""GIF transparency is all or nothing: alpha below this becomes transparent."""
GIF_TRANSPARENT = 255
"""The palette index kept for transparency (quantisation uses the other 255)."""

EXTENSIONS = {
    OutputFormat.PNG: "png",
    OutputFormat.JPEG: "jpg",
    OutputFormat.WEBP: "webp",
    OutputFormat.AVIF: "avif",
    OutputFormat.GIF: "gif",
}
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def encode(
    pixels: Pixels,
    fmt: OutputFormat,
    icc_profile: bytes | None,
    metadata: SourceMetadata | None = None,
    dpi: tuple[float, float] | None = None,
) -> ProcessedImage:
    """The encoded result; ``metadata`` (already made true of these pixels) is written
    where the format can hold it, ``dpi`` wherever it can (all but GIF)."""
    height, width, channels = pixels.shape
    fast = encode_png_fast(pixels) if fmt is OutputFormat.PNG else None
    if fast is not None:
        data = _with_icc(fast, icc_profile) if icc_profile else fast
    elif fmt is OutputFormat.PNG and pixels.dtype == np.uint16 and channels != 2:
        data = _png16(pixels, icc_profile)
    else:
        data = _pillow(_image(pixels), fmt, icc_profile, metadata, dpi)
    if fmt is OutputFormat.PNG:
        data = _png_extras(data, metadata, dpi)
    elif metadata and metadata.iptc and fmt is OutputFormat.JPEG:
        data = add_iptc_to_jpeg(data, metadata.iptc)
    return ProcessedImage(data, EXTENSIONS[fmt], width, height)


def encode_animation(
    frames: Sequence[Pixels],
    durations: Sequence[int],
    plays: int,
    fmt: OutputFormat,
    icc_profile: bytes | None,
    dpi: tuple[float, float] | None = None,
) -> ProcessedImage:
    """An animation of ``frames`` (full frames, as shown) in ``fmt`` (APNG for PNG),
    each shown for its duration in ms, played ``plays`` times (0: forever).

    Every frame replaces the whole canvas (disposal to background for GIF, which keeps
    transparent areas transparent); the writers store only what changed between frames,
    and merge a frame identical to the one before into it, adding the durations.
    """
    if not fmt.animates:
        raise ValueError(f"{fmt.value} holds no animation")
    height, width, channels = frames[0].shape
    images = [_image(frame) for frame in frames]
    params: dict[str, object] = {"icc_profile": icc_profile} if icc_profile else {}
    params.update(save_all=True, append_images=images[1:], duration=list(durations))
    if fmt is OutputFormat.GIF:
        images = [_for_gif(image) for image in images]
        params["append_images"] = images[1:]
        if channels in (2, 4):
            # Disposal to background between frames; no palette optimisation, which
            # would drop the first frame's transparent index when no pixel uses it.
            params.update(disposal=2, optimize=False)
        else:
            params["disposal"] = 1
        if plays != 1:  # GIF counts repeats after the first play; none: plays once
            params["loop"] = 0 if plays == 0 else plays - 1
    elif fmt is OutputFormat.WEBP:
        params.update(loop=plays, quality=WEBP_QUALITY, method=4)
        if dpi:
            params["exif"] = with_density(None, dpi)
    else:
        params.update(
            loop=plays,
            disposal=0,  # APNG_DISPOSE_OP_NONE: the next frame covers all of it
            blend=0,  # APNG_BLEND_OP_SOURCE: replaces, alpha included
            compress_level=PNG_COMPRESS_LEVEL,
        )
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt.value.upper(), **params)
    data = buffer.getvalue()
    if fmt is OutputFormat.PNG and dpi:
        data = add_density_to_png(data, dpi)
    if fmt is OutputFormat.WEBP and channels in (2, 4):
        data = with_webp_alpha_flag(data)
    return ProcessedImage(data, EXTENSIONS[fmt], width, height)


def _image(pixels: Pixels) -> Image.Image:
    channels = pixels.shape[2]
    image = Image.fromarray(_to_8bit(pixels)[:, :, 0] if channels == 1 else _to_8bit(pixels))
    return image if image.mode == _MODES[channels] else image.convert(_MODES[channels])


def _png_extras(
    png: bytes, metadata: SourceMetadata | None, dpi: tuple[float, float] | None
) -> bytes:
    if metadata:
        png = add_to_png(png, metadata)
    return add_density_to_png(png, dpi) if dpi else png


def _to_8bit(pixels: Pixels) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _pillow(
    image: Image.Image,
    fmt: OutputFormat,
    icc: bytes | None,
    metadata: SourceMetadata | None = None,
    dpi: tuple[float, float] | None = None,
) -> bytes:
    params: dict[str, object] = {"icc_profile": icc} if icc else {}
    if metadata and fmt in (OutputFormat.JPEG, OutputFormat.WEBP, OutputFormat.AVIF):
        params.update(pillow_params(metadata))
    if fmt is OutputFormat.PNG:
        params["compress_level"] = PNG_COMPRESS_LEVEL
    elif fmt is OutputFormat.JPEG:
        if image.mode in ("LA", "RGBA"):
            image = _flatten_on_white(image)
        params.update(quality=JPEG_QUALITY, subsampling=0)
        if dpi:
            params["dpi"] = dpi
    elif fmt is OutputFormat.GIF:
        image = _for_gif(image)
    else:
        if image.mode in ("L", "LA"):
            image = image.convert("RGBA" if image.mode == "LA" else "RGB")
        if fmt is OutputFormat.WEBP:
            params.update(quality=WEBP_QUALITY, method=4)
        else:
            params.update(quality=AVIF_QUALITY, speed=AVIF_SPEED)
        if dpi:  # neither has a density field of its own: EXIF resolution
            exif = params.get("exif")
            params["exif"] = with_density(exif if isinstance(exif, bytes) else None, dpi)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.value.upper(), **params)
    return buffer.getvalue()


def _for_gif(image: Image.Image) -> Image.Image:
    """A palette image: at most 255 colours and, with alpha, index 255 transparent where
    alpha is low (GIF's transparency is all or nothing).

    Every frame with alpha declares index 255 transparent, used or not: viewers (Pillow
    among them) clear a frame disposed "to background" to the first frame's transparent
    colour, so the first frame must have one. Octree quantisation: median cut (Pillow's
    default for RGB) took seconds on a small photo-like frame, octree a millisecond."""
    has_alpha = image.mode in ("LA", "RGBA")
    quantized = image.convert("RGB").quantize(
        255 if has_alpha else 256, method=Image.Quantize.FASTOCTREE
    )
    if not has_alpha:
        return quantized
    indexes = np.array(quantized)
    indexes[np.asarray(image.getchannel("A")) < GIF_ALPHA_THRESHOLD] = GIF_TRANSPARENT
    out = Image.fromarray(indexes, "P")
    palette = quantized.getpalette() or []
    out.putpalette(palette + [0] * (768 - len(palette)))
    out.info["transparency"] = GIF_TRANSPARENT
    return out


def _flatten_on_white(image: Image.Image) -> Image.Image:
    # JPEG has no alpha: composite over white, as browsers show a transparent PNG.
    solid = "L" if image.mode == "LA" else "RGB"
    background = Image.new(solid, image.size, 255 if solid == "L" else (255, 255, 255))
    background.paste(image.convert(solid), mask=image.getchannel("A"))
    return background


def _png16(pixels: Pixels, icc: bytes | None) -> bytes:
    channels = pixels.shape[2]
    if channels == 1:
        image = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0], dtype=np.uint16))
        return _pillow(image, OutputFormat.PNG, icc)
    import cv2

    order = [2, 1, 0, 3][:channels]  # RGB(A) to OpenCV's BGR(A)
    ok, encoded = cv2.imencode(
        ".png", np.ascontiguousarray(pixels[:, :, order]), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode a 16-bit PNG")
    data = encoded.tobytes()
    return _with_icc(data, icc) if icc else data


def _with_icc(png: bytes, icc: bytes) -> bytes:
    """``png`` with an iCCP chunk after IHDR (OpenCV and fpng do not write profiles)."""
    body = b"icc\x00\x00" + zlib.compress(icc)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]
