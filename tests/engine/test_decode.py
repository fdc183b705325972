from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from imagetune.engine.decode import decode
from imagetune.errors import InvalidImage
from tests.support import make_image


@pytest.mark.parametrize(
    ("mode", "fmt", "working"),
    [
        ("RGB", "PNG", "RGB"),
        ("RGBA", "PNG", "RGBA"),
        ("L", "PNG", "L"),
        ("LA", "PNG", "LA"),
        ("1", "PNG", "L"),
        ("P", "PNG", "RGB"),
        ("CMYK", "JPEG", "RGB"),
        ("I;16", "PNG", "I;16"),
        ("I", "TIFF", "I;16"),
        ("F", "TIFF", "I;16"),
    ],
)
def test_working_modes(mode: str, fmt: str, working: str) -> None:
    decoded = decode(make_image((20, 10), mode=mode, fmt=fmt))
    assert decoded.image.mode == working
    assert decoded.image.size == (20, 10)
    assert decoded.format == fmt


def test_palette_with_transparency_becomes_rgba() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    decoded = decode(buffer.getvalue()).image
    assert decoded.mode == "RGBA"
    assert decoded.getpixel((0, 0))[3] == 0
    assert decoded.getpixel((1, 1)) == (0, 255, 0, 255)


def test_icc_profile_is_kept_for_matching_mode() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = make_image(fmt="PNG", icc_profile=profile)
    assert decode(data).icc_profile == profile


def test_first_frame_of_animation() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert decode(buffer.getvalue()).image.convert("RGB").getpixel((4, 4)) == (255, 0, 0)


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
def test_undecodable_raises_invalid_image(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage) as info:
        decode(data)
    assert info.value.status_code == 400
    assert info.value.detail.startswith("Invalid image file: ")
    assert reason in info.value.detail
