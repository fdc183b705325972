from __future__ import annotations

import io

import pytest
from PIL import Image

from imagetune.engine.compression import carries_artefacts, jpeg_quality, webp_is_lossy
from tests.engine.conftest import encoded, photo


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate(quality: int) -> None:
    image = Image.open(io.BytesIO(encoded(photo((64, 64)), "JPEG", quality=quality)))
    estimate = jpeg_quality(image)
    assert estimate is not None
    assert abs(estimate - quality) <= 2


@pytest.mark.parametrize(
    ("fmt", "params", "lossy"),
    [
        ("JPEG", {"quality": 75}, True),
        ("JPEG", {"quality": 97}, False),
        ("WEBP", {"quality": 80}, True),
        ("WEBP", {"lossless": True}, False),
        ("PNG", {}, False),
    ],
)
def test_carries_artefacts(fmt: str, params: dict[str, object], lossy: bool) -> None:
    data = encoded(photo((64, 64)), fmt, **params)
    assert carries_artefacts(Image.open(io.BytesIO(data)), data) is lossy


def test_webp_with_alpha_is_classified() -> None:
    rgba = photo((32, 32)).convert("RGBA")
    assert webp_is_lossy(encoded(rgba, "WEBP", quality=80))
    assert not webp_is_lossy(encoded(rgba, "WEBP", lossless=True))
