"""Real images through the real engine: exact sizes, every kind of image, every model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.engine.conftest import Run, encoded, photo, psnr_y


# The sizing rule is tested as a pure function (test_sizing.py); these run each path of
# the pipeline once: an x4 pass then Lanczos, an x2 pass then down, tiny, only
# downscaled, very elongated, and each network family.
@pytest.mark.parametrize(
    ("model", "size", "long_side", "expected"),
    [
        ("photo", (96, 64), 1024, (1024, 683)),  # x10.7: one x4 pass, then Lanczos
        ("photo", (520, 90), 1024, (1024, 177)),  # x1.97: x2 pass, then down
        ("photo", (1, 1), 1024, (1024, 1024)),
        ("photo", (7, 3), 1024, (1024, 439)),
        ("photo", (4000, 16), 1024, (1024, 4)),  # larger than the target: only downscaled
        ("photo", (16, 4000), 4096, (16, 4096)),  # x1.02 on a very elongated image
        ("anime", (64, 96), 2048, (1365, 2048)),
        ("anime", (96, 64), 1024, (1024, 683)),
        ("classic", (64, 96), 2048, (1365, 2048)),
    ],
)
def test_exact_size(
    run: Run, model: str, size: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    assert run(encoded(photo(size)), long_side, model).size == expected


def test_enhance_model_exact_size(run: Run) -> None:
    assert run(encoded(photo((24, 16))), 1024, "enhance").size == (1024, 683)


def test_photo_beats_lanczos_on_a_real_photo(run: Run) -> None:
    original = photo((256, 256), "coffee")
    small = original.resize((64, 64), Image.Resampling.BICUBIC)
    ours = run(encoded(small), 256, "photo")
    lanczos = small.resize((256, 256), Image.Resampling.LANCZOS)
    assert psnr_y(ours, original) > psnr_y(lanczos, original) + 1.0


def test_photo_removes_jpeg_artefacts_better_than_lanczos(run: Run) -> None:
    original = photo((256, 256), "chelsea")
    small = Image.open(io.BytesIO(encoded(original.resize((64, 64)), "JPEG", quality=75)))
    ours = run(encoded(small.convert("RGB"), "JPEG", quality=75), 256, "photo")
    lanczos = small.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    assert psnr_y(ours, original) > psnr_y(lanczos, original)


def test_upscaled_photo_is_sharper_than_lanczos(run: Run) -> None:
    small = photo((48, 48), "astronaut")
    ours = np.asarray(run(encoded(small), 192, "enhance").convert("L"), dtype=np.float64)
    lanczos = np.asarray(
        small.resize((192, 192), Image.Resampling.LANCZOS).convert("L"), dtype=np.float64
    )
    # Mean gradient magnitude: a GAN model restores edges a resampler leaves soft.
    assert np.abs(np.diff(ours, axis=1)).mean() > 1.2 * np.abs(np.diff(lanczos, axis=1)).mean()


def test_rgba_keeps_alpha_and_clean_edges(run: Run) -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((220, 30, 30, 255), (16, 16, 48, 48))
    result = run(encoded(image), 1024, "photo")
    assert result.mode == "RGBA"
    pixels = np.asarray(result)
    assert (pixels[:200, :200, 3] == 0).all()  # fully transparent areas stay transparent
    assert (pixels[300:700, 300:700, 3] == 255).all()
    # No dark fringe: opaque pixels just inside the edge keep the square's colour.
    inner_edge = pixels[260:270, 300:700, :3].reshape(-1, 3).astype(int)
    assert np.abs(inner_edge - [220, 30, 30]).max() < 25


def test_no_alpha_ringing_into_transparent_areas(run: Run) -> None:
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    image.paste((30, 200, 30, 255), (0, 0, 4, 8))
    pixels = np.asarray(run(encoded(image), 1024, "photo"))
    # Source columns 5-7 are transparent with only transparent neighbours: alpha 0 exactly;
    # columns 0-2 opaque with only opaque neighbours: 255 exactly. Only the edge is soft.
    assert (pixels[:, 5 * 128 :, 3] == 0).all()
    assert (pixels[:, : 3 * 128, 3] == 255).all()
    assert 0 < pixels[500, 512, 3] < 255


@pytest.mark.parametrize(("mode", "out_mode"), [("L", "L"), ("LA", "LA")])
def test_grayscale_stays_grayscale(run: Run, mode: str, out_mode: str) -> None:
    assert run(encoded(photo((48, 32)).convert(mode)), 1024).mode == out_mode


def test_palette_with_transparency(run: Run) -> None:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.paste(1, (8, 8, 24, 24))
    result = run(encoded(image, transparency=0), 1024)
    assert result.mode == "RGBA"
    assert result.getpixel((10, 10))[3] == 0
    assert result.getpixel((512, 512)) == (0, 200, 0, 255)


def test_cmyk_jpeg_becomes_correct_rgb(run: Run) -> None:
    rgb = Image.new("RGB", (32, 32), (200, 40, 60))
    result = run(encoded(rgb.convert("CMYK"), "JPEG", quality=95), 1024)
    assert result.mode == "RGB"
    assert np.abs(np.array(result.getpixel((512, 512))) - [200, 40, 60]).max() < 12


def test_sixteen_bit_gray_png_stays_sixteen_bit(run: Run) -> None:
    ramp = (np.arange(40 * 30, dtype=np.uint32).reshape(30, 40) * 53).astype(np.uint16)
    result = run(encoded(Image.fromarray(ramp)), 1024)
    assert result.mode in ("I;16", "I")
    values = np.asarray(result)
    assert values.max() > 255  # not squeezed into 8 bits
    assert (values % 257 != 0).any()


def test_sixteen_bit_rgb_png_stays_sixteen_bit(run: Run) -> None:
    import cv2

    rng = np.random.default_rng(0)
    pixels = (rng.random((24, 32, 3)) * 65535).astype(np.uint16)
    ok, png = cv2.imencode(".png", pixels[:, :, ::-1])
    assert ok
    from imagetune.engine.base import ProcessRequest
    from imagetune.engine.pipeline import EngineConfig, Upscaler

    result = Upscaler(EngineConfig(threads=1)).process(png.tobytes(), ProcessRequest(1024))
    assert result.data[24] == 16  # IHDR bit depth
    assert result.data[25] == 2  # IHDR colour type RGB
    decoded = cv2.imdecode(np.frombuffer(result.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (768, 1024, 3)
    assert decoded.dtype == np.uint16
    assert (decoded % 257 != 0).any()


def test_icc_profile_is_carried_over(run: Run) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = run(encoded(photo((32, 32)), icc_profile=profile), 1024)
    assert result.info.get("icc_profile") == profile


def test_broken_icc_profile_is_dropped(run: Run) -> None:
    result = run(encoded(photo((32, 32)), icc_profile=b"not a profile at all"), 1024)
    assert not result.info.get("icc_profile")


def test_exif_orientation_is_applied(run: Run) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise to display
    result = run(encoded(photo((60, 40)), "JPEG", exif=exif), 1024)
    assert result.size == (683, 1024)


def test_animated_gif_uses_first_frame(run: Run) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    result = run(data, 1024).convert("RGB")
    red, _, blue = result.getpixel((512, 512))
    assert red > 200
    assert blue < 50


@pytest.mark.parametrize(("fmt", "mode"), [("jpeg", "RGB"), ("webp", "RGBA"), ("png", "RGBA")])
def test_output_formats(run: Run, fmt: str, mode: str) -> None:
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    image.paste((0, 0, 250, 255), (0, 0, 16, 32))
    result = run(encoded(image), 1024, "photo", fmt)
    assert result.mode == mode
    if fmt == "jpeg":  # no alpha in JPEG: transparency becomes white
        assert min(result.convert("RGB").getpixel((900, 512))) > 240


def test_progress_counts_every_tile(upscaler) -> None:
    from imagetune.engine.base import ProcessRequest

    steps: list[tuple[int, int]] = []
    data = encoded(photo((300, 200)))
    upscaler.process(data, ProcessRequest(1024), lambda d, t: steps.append((d, t)))
    total = steps[0][1]
    assert total == 2 * 1 + 1  # 300x200 in 240 px tiles, plus the final step
    assert steps == [(done, total) for done in range(1, total + 1)]


def test_a_deadline_is_checked_as_tiles_go(upscaler) -> None:
    from imagetune.engine.base import ProcessRequest
    from imagetune.engine.errors import TimedOut

    with pytest.raises(TimedOut) as info:
        upscaler.process(encoded(photo((300, 200))), ProcessRequest(2048, time_limit=0.0))
    assert info.value.limit == 0.0
