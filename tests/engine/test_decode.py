from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from imagetune.engine.decode import Checked, apply_orientation, check_decodable, decode
from imagetune.engine.errors import UndecodableImage
from imagetune.errors import invalid_image
from tests.support import make_image


@pytest.mark.parametrize(
    ("mode", "fmt", "channels", "bits"),
    [
        ("RGB", "PNG", 3, 8),
        ("RGBA", "PNG", 4, 8),
        ("L", "PNG", 1, 8),
        ("LA", "PNG", 2, 8),
        ("1", "PNG", 1, 8),
        ("P", "PNG", 3, 8),
        ("CMYK", "JPEG", 3, 8),
        ("I;16", "PNG", 1, 16),
        ("I", "TIFF", 1, 16),
        ("F", "TIFF", 1, 16),
    ],
)
def test_working_layouts(mode: str, fmt: str, channels: int, bits: int) -> None:
    decoded = decode(make_image((20, 10), mode=mode, fmt=fmt))
    assert decoded.pixels.shape == (10, 20, channels)
    assert decoded.bits == bits
    assert decoded.format == fmt


def test_palette_with_transparency_becomes_rgba() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    decoded = decode(buffer.getvalue()).pixels
    assert decoded.shape == (4, 4, 4)
    assert decoded[0, 0, 3] == 0
    assert decoded[1, 1].tolist() == [0, 255, 0, 255]


def test_icc_profile_is_kept_for_matching_mode() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = make_image(fmt="PNG", icc_profile=profile)
    assert decode(data).icc_profile == profile


def test_first_frame_of_animation() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert decode(buffer.getvalue()).pixels[4, 4, :3].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a supported image format"),
        (b"GIF89a" + b"\x00" * 3, ""),
        (make_image(fmt="PNG")[:100], "cannot decode PNG"),
        (make_image(fmt="JPEG")[:200], "cannot decode"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a supported"),
        (b"%PDF-1.4\n", "not a supported"),
    ],
)
@pytest.mark.parametrize("decoder", [decode, check_decodable])
def test_undecodable_raises_invalid_image(decoder, data: bytes, reason: str) -> None:
    with pytest.raises(UndecodableImage) as info:
        decoder(data)
    answer = invalid_image(info.value)  # what the API answers
    assert answer.status_code == 400
    assert answer.detail.startswith("Invalid image file: ")
    assert reason in answer.detail


@pytest.mark.parametrize("orientation", range(1, 9))
def test_array_orientation_matches_pillow(orientation: int) -> None:
    image = Image.fromarray(
        np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buffer)))
    assert np.array_equal(apply_orientation(np.asarray(image), orientation), expected)


def test_check_decodable_names_the_format() -> None:
    assert check_decodable(make_image((40, 30), fmt="WEBP")) == Checked("WEBP", 40, 30)
