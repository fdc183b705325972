"""Encoding results: PNG (8 or 16 bits), JPEG, WebP."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from imagetune.engine.base import OutputFormat, ProcessedImage
from imagetune.engine.decode import Pixels
from imagetune.engine.metadata import (
    SourceMetadata,
    add_iptc_to_jpeg,
    add_to_png,
    pillow_params,
)
from imagetune.engine.png import encode_png_fast

PNG_COMPRESS_LEVEL = 1
"""zlib level 1: several times faster than the default 6 on 4K photos, files ~10% larger
(bench/engine_speed.py)."""
JPEG_QUALITY = 92
WEBP_QUALITY = 90

EXTENSIONS = {OutputFormat.PNG: "png", OutputFormat.JPEG: "jpg", OutputFormat.WEBP: "webp"}
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def encode(
    pixels: Pixels,
    fmt: OutputFormat,
    icc_profile: bytes | None,
    metadata: SourceMetadata | None = None,
) -> ProcessedImage:
    """The encoded result; ``metadata`` (already made true of these pixels) is written
    where the format can hold it."""
    height, width, channels = pixels.shape
    fast = encode_png_fast(pixels) if fmt is OutputFormat.PNG else None
    if fast is not None:
        data = _with_icc(fast, icc_profile) if icc_profile else fast
    elif fmt is OutputFormat.PNG and pixels.dtype == np.uint16 and channels != 2:
        data = _png16(pixels, icc_profile)
    else:
        image = Image.fromarray(_to_8bit(pixels)[:, :, 0] if channels == 1 else _to_8bit(pixels))
        image = image if image.mode == _MODES[channels] else image.convert(_MODES[channels])
        data = _pillow(image, fmt, icc_profile, metadata)
    if metadata and fmt is OutputFormat.PNG:
        data = add_to_png(data, metadata)
    elif metadata and metadata.iptc and fmt is OutputFormat.JPEG:
        data = add_iptc_to_jpeg(data, metadata.iptc)
    return ProcessedImage(data, EXTENSIONS[fmt], width, height)


def _to_8bit(pixels: Pixels) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _pillow(
    image: Image.Image,
    fmt: OutputFormat,
    icc: bytes | None,
    metadata: SourceMetadata | None = None,
) -> bytes:
    params: dict[str, object] = {"icc_profile": icc} if icc else {}
    if metadata and fmt is not OutputFormat.PNG:
        params.update(pillow_params(metadata))
    if fmt is OutputFormat.PNG:
        params["compress_level"] = PNG_COMPRESS_LEVEL
    elif fmt is OutputFormat.JPEG:
        if image.mode in ("LA", "RGBA"):
            image = _flatten_on_white(image)
        params.update(quality=JPEG_QUALITY, subsampling=0)
    else:
        if image.mode in ("L", "LA"):
            image = image.convert("RGBA" if image.mode == "LA" else "RGB")
        params.update(quality=WEBP_QUALITY, method=4)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.value.upper(), **params)
    return buffer.getvalue()


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
