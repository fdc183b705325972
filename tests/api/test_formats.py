"""HEIC in, animations in and out, AVIF out and print density, through the service.

One real server (real engine, real HTTP) runs one job per format family, and takes the
refusals too, which the upload check decides before any job exists (one server for the
module is cheaper than a second, in-process one; the 413 for an animation's output pixels
is in the hostile corpus).
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.api.test_hostile import animation, heic
from tests.conftest import ClientFactory
from tests.engine.conftest import encoded, photo
from tests.engine.test_formats import animated, frames_of
from tests.support import ApiClient, ServerProcess, open_image


def submit(client: ApiClient, image: bytes, filename: str, **fields: str) -> httpx.Response:
    return client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": (filename, image, "application/octet-stream")},
        data={"scale": "1K", **fields},
    )


def result_of(client: ApiClient, image: bytes, filename: str, **fields: str) -> bytes:
    response = submit(client, image, filename, **fields)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = client.wait(response.json()["job_id"])
    assert job["status"] == "Succeed", job
    [url] = job["image_urls"]
    extension = fields.get("output_format", "png").replace("jpeg", "jpg")
    assert httpx.URL(url).path.endswith("." + extension)
    return client.download(url).content


def test_heic_original(real_server: ServerProcess, client_factory: ClientFactory) -> None:
    # A phone-style HEIC, turned by its irot transform: the result is upright.
    image = open_image(result_of(client_factory(real_server), heic("rotated"), "IMG_0001.HEIC"))
    assert (image.format, image.size) == ("PNG", (768, 1024))
    pixels = np.asarray(image.convert("RGB"))
    assert pixels[5, 5, 0] > 200 > pixels[1018, 5, 0]  # red grew to the right before the turn
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


@pytest.mark.parametrize("output_format", ["gif", "webp"])
def test_animation_stays_an_animation(
    real_server: ServerProcess, client_factory: ClientFactory, output_format: str
) -> None:
    source = animated("GIF", disposal=2, loop=0)
    data = result_of(
        client_factory(real_server), source, "a.gif", output_format=output_format, model="classic"
    )
    frames, durations, loop = frames_of(data)
    assert open_image(data).size == (1024, 683)
    assert (len(frames), durations, loop) == (4, [100, 200, 300, 400], 0)
    assert frames[1][340, 100, 3] == 0  # the second frame's clear half
    assert frames[1][340, 900, 3] == 255


def test_avif_result_keeps_alpha(real_server: ServerProcess, client_factory: ClientFactory) -> None:
    source = photo((60, 40)).convert("RGBA")
    alpha = Image.new("L", (60, 40), 255)
    alpha.paste(0, (0, 0, 30, 40))  # the left half clear
    source.putalpha(alpha)
    data = result_of(client_factory(real_server), encoded(source), "a.png", output_format="avif")
    image = open_image(data)
    assert (image.format, image.mode, image.size) == ("AVIF", "RGBA", (1024, 683))
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:, :480].max() < 8
    assert alpha[:, 540:].min() > 247


def test_print_density_kept(real_server: ServerProcess, client_factory: ClientFactory) -> None:
    original = encoded(photo((60, 40)), "JPEG", quality=90, dpi=(300, 300))
    data = result_of(client_factory(real_server), original, "scan.jpg", output_format="jpeg")
    assert open_image(data).info["dpi"] == (300, 300)


@pytest.mark.parametrize("output_format", ["jpeg", "avif"])
def test_animation_into_a_still_format_is_422(
    real_server: ServerProcess, client_factory: ClientFactory, output_format: str
) -> None:
    response = submit(
        client_factory(real_server), animation(3), "a.gif", output_format=output_format
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "output_format"]
    assert "cannot hold an animation" in error["msg"]
    assert "png (APNG), webp or gif" in error["msg"]


def test_a_still_gif_may_become_jpeg(
    real_server: ServerProcess, client_factory: ClientFactory
) -> None:
    response = submit(
        client_factory(real_server), encoded(photo((8, 8)), "GIF"), "a.gif", output_format="jpeg"
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("value", ["tiff", "GIF", "heic"])
def test_unknown_output_formats_are_422(
    real_server: ServerProcess, client_factory: ClientFactory, value: str
) -> None:
    response = submit(client_factory(real_server), encoded(photo((8, 8))), "a.png",
                      output_format=value)  # fmt: skip
    assert response.status_code == 422


def test_output_formats_listed_in_the_api_docs(
    real_server: ServerProcess, client_factory: ClientFactory
) -> None:
    schema = client_factory(real_server).http.get("/openapi.json").json()
    text = str(schema)
    for value in ("png", "jpeg", "webp", "avif", "gif"):
        assert f"'{value}'" in text
    assert "HEIC" in text


def test_preview_of_an_original_the_browser_cannot_show(
    real_server: ServerProcess, client_factory: ClientFactory
) -> None:
    http = client_factory(real_server).http
    response = http.post("/public/v1/preview", files={"image": ("a.heic", heic("rgba8"))})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"  # it has alpha
    assert response.headers["x-image-size"] == "64x48"
    assert open_image(response.content).size == (64, 48)
    response = http.post("/public/v1/preview", files={"image": ("a.heic", heic("rgb8")[:300])})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid image file")
    anonymous = client_factory(real_server, key="itk_not-a-key").http
    assert anonymous.post("/public/v1/preview", files={"image": heic("rgb8")}).status_code == 401
