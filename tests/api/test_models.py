"""The engine's extensions to the contract: model, output_format, /models, progress."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.support import make_image, open_image


def submit(client, image: bytes, **fields: str) -> httpx.Response:
    return client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("a.png", image, "image/png")},
        data={"scale": "1K", **fields},
    )


def test_models_lists_the_choices(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    response = client_factory(shared_server).http.get("/public/v1/models")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()}
    assert set(models) == {"photo", "enhance", "anime", "classic"}
    assert [name for name, m in models.items() if m["default"]] == ["photo"]
    assert models["enhance"]["kind"] == "gan"
    assert models["photo"]["kind"] == "faithful"
    assert models["classic"]["licenses"] == []
    assert all(m["description"] for m in models.values())


def test_models_needs_a_key(shared_server: InProcessService) -> None:
    response = shared_server.http.get("/public/v1/models")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid API key"})


@pytest.mark.parametrize(
    ("fields", "media_type", "fmt"),
    [
        ({}, "image/png", "PNG"),
        ({"model": "anime", "output_format": "webp"}, "image/webp", "WEBP"),
        ({"model": "classic", "output_format": "jpeg"}, "image/jpeg", "JPEG"),
        ({"model": "enhance"}, "image/png", "PNG"),
    ],
)
def test_model_and_output_format(
    shared_server: InProcessService,
    client_factory: ClientFactory,
    fields: dict[str, str],
    media_type: str,
    fmt: str,
) -> None:
    client = client_factory(shared_server)
    response = submit(client, make_image((24, 16)), **fields)
    assert response.status_code == 200, response.text
    job = client.wait(response.json()["job_id"])
    assert job["status"] == "Succeed", job
    assert job["model"] == fields.get("model", "photo")
    assert job["output_format"] == fields.get("output_format", "png")
    result = client.download(job["image_urls"][0])
    assert result.headers["content-type"] == media_type
    image = open_image(result.content)
    assert (image.format, image.size) == (fmt, (1024, 683))


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "nope"), ("model", "Photo"), ("output_format", "bmp"), ("output_format", "PNG")],
)
def test_unknown_extension_values_are_422(
    shared_server: InProcessService, client_factory: ClientFactory, field: str, value: str
) -> None:
    response = submit(client_factory(shared_server), make_image(), **{field: value})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


@pytest.mark.slow
def test_progress_rises_while_a_job_runs(service_factory, client_factory: ClientFactory) -> None:
    # A job that takes two seconds, reporting progress in steps (the engine reports one
    # step per tile: tests/engine/test_pipeline.py).
    server = service_factory(processor="sleep:2")
    client = client_factory(server)
    response = submit(client, make_image((128, 96)), model="enhance")
    job_id = response.json()["job_id"]
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = client.job(job_id).json()
        seen.append(body["progress"])
        if body["status"] != "Pending":
            break
        time.sleep(0.05)
    assert body["status"] == "Succeed"
    assert seen[-1] == 100
    assert any(0 < p < 100 for p in seen), seen
    assert seen == sorted(seen)
