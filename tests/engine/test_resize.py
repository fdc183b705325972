from __future__ import annotations

import io

from PIL import Image

from imagetune.engine.base import ProcessRequest
from imagetune.engine.resize import ResizeProcessor
from tests.support import make_image, open_image


def run(data: bytes, long_side: int) -> Image.Image:
    steps: list[tuple[int, int]] = []
    result = ResizeProcessor().process(
        data, ProcessRequest(long_side), lambda done, total: steps.append((done, total))
    )
    assert steps[-1] == (1, 1)
    assert result.media_type == "image/png"
    image = open_image(result.data)
    assert (result.width, result.height) == image.size
    return image


def test_upscale_and_downscale_exact() -> None:
    assert run(make_image((30, 20)), 1024).size == (1024, 683)
    assert run(make_image((3000, 2000)), 1024).size == (1024, 683)


def test_sixteen_bit_png_stays_sixteen_bit() -> None:
    image = Image.new("I;16", (10, 10), 40000)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = run(buffer.getvalue(), 1024)
    assert result.mode == "I;16"
    assert abs(result.getpixel((500, 500)) - 40000) < 50  # type: ignore[operator]


def test_rgba_keeps_transparent_areas_transparent() -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 20))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = run(buffer.getvalue(), 1024)
    assert result.mode == "RGBA"
    assert result.getpixel((900, 500))[3] == 0
    # Premultiplied resampling: no dark fringe from the transparent black next to red.
    assert result.getpixel((100, 500)) == (255, 0, 0, 255)
