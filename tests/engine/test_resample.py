"""The final resize: exact sizes, every sample type, and the same pixels on any number of
threads (each of Pillow's two passes split across them)."""

from __future__ import annotations

import numpy as np
import pytest

from imagetune.engine.resample import MIN_SPLIT_PIXELS, resize
from tests.engine.conftest import photo

SOURCE = (1200, 900)  # large enough that two threads split the work


def samples(dtype: type, channels: int) -> np.ndarray:
    rgb = np.asarray(photo(SOURCE, "coffee"), np.float64) / 255
    planes = [rgb[:, :, c % 3] for c in range(channels)]
    unit = np.stack(planes, axis=-1)
    if dtype is np.float32:
        return unit.astype(np.float32)
    return np.rint(unit * np.iinfo(dtype).max).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "channels"),
    [(np.uint8, 3), (np.uint8, 1), (np.uint8, 2), (np.uint16, 3), (np.float32, 3)],
)
@pytest.mark.parametrize("size", [(2048, 1536), (700, 525), (1201, 901)])
def test_threads_give_the_pixels_of_one_thread(
    dtype: type, channels: int, size: tuple[int, int]
) -> None:
    pixels = samples(dtype, channels)
    assert max(pixels.shape[0] * pixels.shape[1], size[0] * size[1]) >= MIN_SPLIT_PIXELS
    alone = resize(pixels, size)
    assert alone.shape == (size[1], size[0], channels)
    assert alone.dtype == pixels.dtype
    for threads in (2, 3):
        assert np.array_equal(resize(pixels, size, threads), alone)


def test_the_same_size_is_left_alone() -> None:
    pixels = samples(np.uint8, 3)
    assert resize(pixels, SOURCE, threads=2) is pixels
