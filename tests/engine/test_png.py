"""Every PNG mode the engine writes decodes back to the expected pixels, through fpng
(8-bit RGB, RGBA) or Pillow/OpenCV (the rest)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from imagetune.engine.base import OutputFormat
from imagetune.engine.encode import encode
from imagetune.engine.png import encode_png_fast

FPNG_CHUNK = b"fdEC"  # fpng's private chunk: tells which encoder wrote a file


def samples(channels: int, dtype: type[np.unsignedinteger], seed: int = 0) -> np.ndarray:
    """Noise over gradients, every value of the type's range likely present."""
    rng = np.random.default_rng(seed)
    limit = np.iinfo(dtype).max
    height, width = 67, 93  # odd sizes: no row padding hides a stride bug
    ramp = np.linspace(0, limit, width, dtype=np.float64)[None, :, None]
    noise = rng.integers(0, limit, (height, width, channels), endpoint=True)
    mixed = (ramp + noise) % (limit + 1)
    mixed[0, 0], mixed[0, 1] = 0, limit
    return mixed.astype(dtype)


def decoded(data: bytes) -> np.ndarray:
    """The file's samples as stored, in RGB(A) order, H x W x C."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert array is not None
    if array.ndim == 2:
        return array[:, :, None]
    order = [2, 1, 0, 3][: array.shape[2]]
    return array[:, :, order]


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


MODES = [
    # (channels, dtype, fpng writes it, what the file holds)
    pytest.param(3, np.uint8, True, "same", id="rgb8"),
    pytest.param(4, np.uint8, True, "same", id="rgba8"),
    pytest.param(1, np.uint8, False, "same", id="gray8"),
    pytest.param(2, np.uint8, False, "same", id="gray-alpha8"),
    pytest.param(1, np.uint16, False, "same", id="gray16"),
    pytest.param(3, np.uint16, False, "same", id="rgb16"),
    pytest.param(4, np.uint16, False, "same", id="rgba16"),
    pytest.param(2, np.uint16, False, "8bit", id="gray-alpha16"),  # written at 8 bits
]


@pytest.mark.parametrize(("channels", "dtype", "fast", "holds"), MODES)
def test_every_png_mode_decodes_to_the_expected_pixels(channels, dtype, fast, holds) -> None:
    pixels = samples(channels, dtype)
    result = encode(pixels, OutputFormat.PNG, None)
    assert (result.width, result.height) == (93, 67)
    assert (FPNG_CHUNK in result.data[:64]) is fast
    expected = pixels if holds == "same" else to_8bit(pixels)
    if channels == 2:
        # OpenCV drops gray+alpha's alpha; Pillow keeps it.
        image = Image.open(io.BytesIO(result.data))
        assert image.mode == "LA"
        np.testing.assert_array_equal(np.asarray(image), expected)
        return
    np.testing.assert_array_equal(decoded(result.data), expected)


@pytest.mark.parametrize("channels", [3, 4])
def test_the_fast_path_carries_the_icc_profile(channels: int) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = samples(channels, np.uint8, seed=1)
    data = encode(pixels, OutputFormat.PNG, icc).data
    image = Image.open(io.BytesIO(data))
    assert image.info.get("icc_profile") == icc
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_the_fast_path_takes_views_of_larger_arrays() -> None:
    canvas = samples(4, np.uint8, seed=2)
    view = canvas[5:50, 3:90:2, :3]  # strided, not contiguous
    data = encode_png_fast(view)
    assert data is not None
    np.testing.assert_array_equal(decoded(data), view)


@pytest.mark.parametrize(
    "pixels",
    [samples(1, np.uint8), samples(2, np.uint8), samples(3, np.uint16), samples(4, np.uint16)],
    ids=["gray8", "gray-alpha8", "rgb16", "rgba16"],
)
def test_the_fast_path_declines_what_it_cannot_write(pixels: np.ndarray) -> None:
    assert encode_png_fast(pixels) is None
