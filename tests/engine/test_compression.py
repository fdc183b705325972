from __future__ import annotations

import io

import pytest
from PIL import Image

from imagetune.engine.compression import (
    DENOISE_LEVELS,
    denoise_level,
    jpeg_quality,
    level_for_quality,
    webp_is_lossy,
)
from tests.engine.conftest import encoded, photo


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate(quality: int) -> None:
    image = Image.open(io.BytesIO(encoded(photo((64, 64)), "JPEG", quality=quality)))
    estimate = jpeg_quality(image)
    assert estimate is not None
    assert abs(estimate - quality) <= 2


@pytest.mark.parametrize(
    ("fmt", "params", "level"),
    [
        ("JPEG", {"quality": 40}, 3),
        ("JPEG", {"quality": 75}, 2),
        ("JPEG", {"quality": 90}, 0),
        ("JPEG", {"quality": 97}, None),
        ("WEBP", {"quality": 80}, 2),
        ("WEBP", {"lossless": True}, None),
        ("PNG", {}, None),
    ],
)
def test_denoise_level_from_the_file(
    fmt: str, params: dict[str, object], level: int | None
) -> None:
    data = encoded(photo((64, 64)), fmt, **params)
    assert denoise_level(Image.open(io.BytesIO(data)), data) == level


def test_level_table_covers_every_quality() -> None:
    # Rising qualities, levels from the heaviest down; unreadable tables: the heaviest.
    assert [q for q, _ in DENOISE_LEVELS] == sorted(q for q, _ in DENOISE_LEVELS)
    assert level_for_quality(None) == DENOISE_LEVELS[0][1]
    assert [level_for_quality(q) for q in (1, 74, 75, 82, 83, 94, 95, 100)] == [
        3, 3, 2, 2, 0, 0, None, None
    ]  # fmt: skip


def test_webp_with_alpha_is_classified() -> None:
    rgba = photo((32, 32)).convert("RGBA")
    assert webp_is_lossy(encoded(rgba, "WEBP", quality=80))
    assert not webp_is_lossy(encoded(rgba, "WEBP", lossless=True))
