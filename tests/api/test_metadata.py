"""The ``metadata`` form field through the real service, and the licences /models states."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.engine.test_metadata import CAPTION, camera_jpeg
from tests.inprocess import InProcessService
from tests.support import ServerProcess, open_image


def submit(client, image: bytes, **fields: str) -> httpx.Response:
    return client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("camera.jpg", image, "image/jpeg")},
        data={"scale": "1K", "model": "classic", **fields},
    )


@pytest.mark.parametrize(
    ("fields", "gps"), [({}, False), ({"metadata": "strip"}, False), ({"metadata": "keep"}, True)]
)
def test_metadata_field(
    real_server: ServerProcess,
    client_factory: ClientFactory,
    fields: dict[str, str],
    gps: bool,
) -> None:
    # The real engine: metadata is the encoder's business.
    client = client_factory(real_server)
    response = submit(client, camera_jpeg(), output_format="jpeg", **fields)
    assert response.status_code == 200, response.text
    job = client.wait(response.json()["job_id"])
    assert job["status"] == "Succeed", job
    result = client.download(job["image_urls"][0]).content
    image = open_image(result)
    assert image.size == (683, 1024)
    exif = image.getexif()
    assert (exif.get_ifd(0x8825).get(1) == "N") is gps
    assert (exif.get(0x010F) == "Canon") is gps
    assert (CAPTION in result) is gps


@pytest.mark.parametrize("value", ["nope", "KEEP", "all"])
def test_unknown_metadata_values_are_422(
    shared_server: InProcessService, client_factory: ClientFactory, value: str
) -> None:
    response = submit(client_factory(shared_server), camera_jpeg(), metadata=value)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "metadata"]]


def test_models_state_the_weights_licences(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    models = client_factory(shared_server).http.get("/public/v1/models").json()
    photo = next(m for m in models if m["name"] == "photo")
    assert any(licence.startswith("Apache-2.0 (SPAN") for licence in photo["licenses"])
    assert any(licence.startswith("MIT ") for licence in photo["licenses"])
