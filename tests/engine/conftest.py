from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import skimage.data
from PIL import Image

from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import EngineConfig, Upscaler
from tests.support import open_image

Run = Callable[..., Image.Image]


@pytest.fixture(scope="session")
def upscaler() -> Upscaler:
    return Upscaler(EngineConfig(threads=2))


@pytest.fixture
def run(upscaler: Upscaler) -> Run:
    """Process encoded bytes through the real engine; the decoded result, steps checked."""

    def process(
        data: bytes, long_side: int = 1024, model: str = "photo", fmt: str = "png"
    ) -> Image.Image:
        steps: list[tuple[int, int]] = []
        result = upscaler.process(
            data,
            ProcessRequest(long_side, model=ModelName(model), output_format=OutputFormat(fmt)),
            lambda done, total: steps.append((done, total)),
        )
        assert steps[-1][0] == steps[-1][1]
        image = open_image(result.data)
        assert (result.width, result.height) == image.size
        assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
        return image

    return process


def encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (96, 96), name: str = "astronaut") -> Image.Image:
    """A real photo (scikit-image's bundled samples), resized."""
    pixels = getattr(skimage.data, name)()
    return Image.fromarray(np.asarray(pixels)).convert("RGB").resize(size, Image.Resampling.BICUBIC)


def psnr_y(a: Image.Image, b: Image.Image) -> float:
    def luma(image: Image.Image) -> np.ndarray:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
        return 16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255

    mse = float(np.mean((luma(a) - luma(b)) ** 2))
    return 10 * np.log10(255**2 / mse)
