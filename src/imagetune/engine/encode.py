"""Encoding results."""

from __future__ import annotations

import io

from PIL import Image

from imagetune.engine.base import ProcessedImage

PNG_COMPRESS_LEVEL = 6


def encode_png(image: Image.Image, icc_profile: bytes | None) -> ProcessedImage:
    buffer = io.BytesIO()
    params: dict[str, object] = {"compress_level": PNG_COMPRESS_LEVEL}
    if icc_profile:
        params["icc_profile"] = icc_profile
    image.save(buffer, format="PNG", **params)
    return ProcessedImage(
        data=buffer.getvalue(),
        media_type="image/png",
        extension="png",
        width=image.width,
        height=image.height,
    )
