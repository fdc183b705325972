"""HEIC originals, animations, AVIF and GIF results, and print density, in the engine."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagetune.engine.animation import check_output, upscale_frames
from imagetune.engine.base import OutputFormat, ProcessRequest
from imagetune.engine.decode import Checked, check_decodable, decode
from imagetune.engine.encode import encode, encode_animation
from imagetune.engine.errors import AnimationTooLarge, CannotAnimate, UndecodableImage
from imagetune.engine.metadata import MetadataMode
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import Upscaler
from tests.engine.conftest import encoded, photo
from tests.support import open_image

HEIC = Path(__file__).parents[1] / "fixtures" / "heic"


def heic(name: str) -> bytes:
    return (HEIC / f"{name}.heic").read_bytes()


# -- HEIC originals (files made by heif-enc: tests/fixtures/heic/make.py)


def test_heic_8_bit_with_density() -> None:
    decoded = decode(heic("rgb8"))
    assert decoded.format == "HEIF"
    assert decoded.pixels.shape == (48, 64, 3)
    assert decoded.pixels.dtype == np.uint8
    # The gradient: red grows to the right, green downwards.
    assert decoded.pixels[0, 60, 0] > 200 > decoded.pixels[0, 2, 0]
    assert decoded.pixels[45, 0, 1] > 200 > decoded.pixels[2, 0, 1]
    assert decoded.dpi == (300.0, 300.0)


def test_heic_10_bit_keeps_its_depth() -> None:
    decoded = decode(heic("rgb10"))
    assert decoded.pixels.dtype == np.uint16
    assert decoded.pixels.shape == (48, 64, 3)
    assert decoded.pixels[0, 60, 0] > 200 * 257 > decoded.pixels[0, 2, 0]


def test_heic_alpha() -> None:
    pixels = decode(heic("rgba8")).pixels
    assert pixels.shape == (48, 64, 4)
    assert pixels[:, :30, 3].max() == 0
    assert pixels[:, 34:, 3].min() == 255


def test_heic_rotation_is_applied_once() -> None:
    # irot: a quarter turn anticlockwise; the original's top right corner is now top left.
    decoded = decode(heic("rotated"))
    assert decoded.pixels.shape == (64, 48, 3)
    assert decoded.pixels[0, 0, 0] > 200
    assert check_decodable(heic("rotated")) == Checked("HEIF", 48, 64, 1)


def test_heic_primary_image_of_several() -> None:
    decoded = decode(heic("multi"))
    assert decoded.pixels.shape == (48, 64, 3)  # the gradient, not the blue second image
    assert decoded.animation is None
    assert check_decodable(heic("multi")).frames == 1


@pytest.mark.parametrize(
    "data",
    [heic("rgb8")[:300], heic("rgb8")[:40] + b"\x00" * 200],
    ids=["truncated", "garbage-after-ftyp"],
)
def test_broken_heic_is_invalid(data: bytes) -> None:
    with pytest.raises(UndecodableImage):
        check_decodable(data)


# -- AVIF and GIF results


def test_avif_keeps_alpha() -> None:
    pixels = np.zeros((20, 30, 4), np.uint8)
    pixels[:, :, :3] = (40, 160, 90)
    pixels[:, 15:, 3] = 255
    result = encode(pixels, OutputFormat.AVIF, None)
    image = open_image(result.data)
    assert (image.format, image.mode, result.extension) == ("AVIF", "RGBA", "avif")
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:, :12].max() < 8
    assert alpha[:, 18:].min() > 247


def test_still_gif_has_binary_transparency() -> None:
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[:, :, :3] = 200
    pixels[:, 4:, 3] = 255
    pixels[0, 0, 3] = 100  # under the threshold: transparent
    image = open_image(encode(pixels, OutputFormat.GIF, None).data).convert("RGBA")
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:, :4].max() == 0
    assert alpha[:, 4:].min() == 255


# -- print density


def jpeg_at(dpi: tuple[int, int]) -> bytes:
    return encoded(photo((48, 32)), "JPEG", quality=95, dpi=dpi)


@pytest.mark.parametrize("fmt", [f for f in OutputFormat if f is not OutputFormat.GIF])
@pytest.mark.parametrize("dpi", [(300, 300), (72, 144)])
def test_density_kept_in_every_format_that_holds_it(
    upscaler: Upscaler, fmt: OutputFormat, dpi: tuple[int, int]
) -> None:
    result = upscaler.process(jpeg_at(dpi), ProcessRequest(96, ModelName.CLASSIC, fmt))
    assert decode(result.data).dpi == pytest.approx(dpi, abs=0.01)


@pytest.mark.parametrize(
    ("build", "dpi"),
    [
        (lambda: encoded(photo((8, 8)), "PNG", dpi=(150, 150)), (150, 150)),
        (lambda: encoded(photo((8, 8)), "TIFF", dpi=(600, 600)), (600, 600)),
        (lambda: encoded(photo((8, 8)), "PNG"), None),
        (lambda: encoded(photo((8, 8)), "JPEG"), None),  # JFIF aspect ratio only
    ],
)
def test_density_read_from_each_kind_of_file(build, dpi: tuple[int, int] | None) -> None:
    found = decode(build()).dpi
    assert found == (None if dpi is None else pytest.approx(dpi, abs=0.01))


# -- animations


def frames_of(data: bytes) -> tuple[list[np.ndarray], list[int], object]:
    image = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGBA")))
        durations.append(int(image.info.get("duration", 0)))
    return frames, durations, image.info.get("loop")


def animated(fmt: str, transparent: bool = True, **params: object) -> bytes:
    """Four 12x8 frames: red, blue with its left half clear, green, red again."""
    colours = [(255, 0, 0), (0, 0, 255), (0, 160, 0), (255, 0, 0)]
    images = []
    for index, colour in enumerate(colours):
        frame = Image.new("RGBA", (12, 8), (*colour, 255))
        if transparent and index == 1:
            frame.paste((0, 0, 0, 0), (0, 0, 6, 8))
        images.append(frame if fmt != "GIF" else _paletted(frame))
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        fmt,
        save_all=True,
        append_images=images[1:],
        duration=[100, 200, 300, 400],
        **params,
    )
    return buffer.getvalue()


def _paletted(frame: Image.Image) -> Image.Image:
    # GIF frames as a GIF maker writes them: a palette with one transparent index.
    clear = np.asarray(frame.getchannel("A")) == 0
    paletted = frame.convert("RGB").quantize(255)
    indexes = np.asarray(paletted).copy()
    indexes[clear] = 255
    out = Image.fromarray(indexes, "P")
    out.putpalette((paletted.getpalette() or []) + [0] * 3)
    out.info["transparency"] = 255
    return out


SOURCES = {
    "gif": lambda: animated("GIF", disposal=2, loop=0),
    "webp": lambda: animated("WEBP", lossless=True, loop=0),
    "apng": lambda: animated("PNG", loop=0),
}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("fmt", [OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.GIF])
def test_animation_upscaled_frame_by_frame(
    upscaler: Upscaler, source: str, fmt: OutputFormat
) -> None:
    steps: list[tuple[int, int]] = []
    result = upscaler.process(
        SOURCES[source](),
        ProcessRequest(48, ModelName.CLASSIC, fmt),
        lambda done, total: steps.append((done, total)),
    )
    frames, durations, loop = frames_of(result.data)
    assert open_image(result.data).format == {"png": "PNG", "webp": "WEBP", "gif": "GIF"}[fmt]
    assert (result.width, result.height) == (48, 32)
    assert durations == [100, 200, 300, 400]
    assert loop == 0
    red, blue, green = (255, 0, 0), (0, 0, 255), (0, 160, 0)
    for frame, colour in zip(frames, [red, blue, green, red], strict=True):
        assert frame.shape == (32, 48, 4)
        assert np.abs(frame[16, 40, :3].astype(int) - colour).max() < 12
        assert frame[16, 40, 3] == 255
    assert frames[1][16, 8, 3] == 0  # the clear half stays clear
    assert steps[-1] == (1, 1)  # classic: no tiles, one step for resize and encode


def test_frames_computed_once_and_progress_per_frame(upscaler: Upscaler) -> None:
    steps: list[tuple[int, int]] = []
    upscaler.process(
        animated("GIF", transparent=False),
        ProcessRequest(48, ModelName.PHOTO),
        lambda done, total: steps.append((done, total)),
    )
    # SPAN, one tile per frame: three distinct frames (the fourth repeats the first).
    assert [done for done, _ in steps] == [1, 2, 3, 4]
    assert {total for _, total in steps} == {4}


def test_equal_frames_share_one_result() -> None:
    a, b = np.zeros((2, 2, 3), np.uint8), np.ones((2, 2, 3), np.uint8)
    calls: list[np.ndarray] = []

    def upscale(frame: np.ndarray) -> np.ndarray:
        calls.append(frame)
        return frame + 10

    results = upscale_frames([a, b, a.copy(), b, a], upscale)
    assert len(calls) == 2
    assert [int(r[0, 0, 0]) for r in results] == [10, 11, 10, 11, 10]


@pytest.mark.parametrize(("plays", "gif_loop"), [(1, None), (0, 0), (3, 2)])
def test_play_count_kept_across_kinds(plays: int, gif_loop: int | None) -> None:
    frames = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)]
    gif = encode_animation(frames, [50, 50], plays, OutputFormat.GIF, None).data
    assert Image.open(io.BytesIO(gif)).info.get("loop") == gif_loop
    assert decode(gif).animation.loop == plays  # type: ignore[union-attr]
    for fmt in (OutputFormat.PNG, OutputFormat.WEBP):
        data = encode_animation(frames, [50, 50], plays, fmt, None).data
        assert decode(data).animation.loop == plays  # type: ignore[union-attr]


def test_animation_into_a_still_format_is_refused() -> None:
    info = Checked("GIF", 12, 8, 4)
    for fmt in (OutputFormat.JPEG, OutputFormat.AVIF):
        with pytest.raises(CannotAnimate, match="png \\(APNG\\), webp or gif"):
            check_output(info, 1024, fmt, 10**9)
    check_output(Checked("GIF", 12, 8, 1), 1024, OutputFormat.JPEG, 10**9)  # a still GIF


def test_animation_output_pixels_are_limited() -> None:
    info = Checked("GIF", 200, 100, 10)  # 10 frames of 1024x512 at 1K: 5.2 megapixels
    check_output(info, 1024, OutputFormat.GIF, 5_242_880)
    with pytest.raises(AnimationTooLarge, match="10 frames of 1024x512"):
        check_output(info, 1024, OutputFormat.GIF, 5_242_879)


def test_frame_count_and_total_source_pixels_are_limited() -> None:
    data = animated("GIF", transparent=False)
    assert check_decodable(data).frames == 4
    with pytest.raises(UndecodableImage, match="4 frames; the limit is 3"):
        check_decodable(data, max_frames=3)
    with pytest.raises(UndecodableImage, match="the animation's 4 frames of 12x8"):
        decode(data, max_pixels=12 * 8 * 3)


def test_heic_exif_carried_on_request(upscaler: Upscaler) -> None:
    request = ProcessRequest(96, ModelName.CLASSIC, OutputFormat.JPEG, MetadataMode.KEEP)
    image = open_image(upscaler.process(heic("rotated"), request).data)
    exif = image.getexif()
    assert exif.get(0x0112, 1) == 1  # upright already: libheif applied the turn
    assert float(exif[0x011A]) == 300.0
    assert image.size == (72, 96)
