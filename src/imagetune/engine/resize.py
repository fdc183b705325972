"""The classical processor: decode, resize to the exact target with Lanczos, encode."""

from __future__ import annotations

from PIL import Image

from imagetune.engine.base import ProcessedImage, ProcessRequest, ProgressCallback
from imagetune.engine.decode import decode
from imagetune.engine.encode import encode_png
from imagetune.engine.sizing import target_size


class ResizeProcessor:
    """Lanczos both up and down (Pillow's resampling antialiases when shrinking)."""

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        decoded = decode(data)
        image = decoded.image
        size = target_size(image.width, image.height, request.long_side)
        if progress:
            progress(0, 1)
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        result = encode_png(image, decoded.icc_profile)
        if progress:
            progress(1, 1)
        return result
