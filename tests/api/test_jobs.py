"""GET /public/v1/job/{job_id} and the whole flow: submit, poll, download."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.support import accounts_for, make_image, open_image

# (original size, scale) -> exact result size: longer side is the target, ratio kept,
# shorter side rounded half up.
# The rule itself is tested as a pure function (tests/engine/test_sizing.py); these cases
# check that the service applies it: each scale, each orientation, and a downscale.
FLOW_CASES = [
    ((300, 200), "1K", (1024, 683)),
    ((200, 300), "2K", (1365, 2048)),
    ((250, 250), "4K", (4096, 4096)),
    ((2500, 1200), "2K", (2048, 983)),
]


@pytest.mark.parametrize(("size", "scale", "expected"), FLOW_CASES)
def test_full_flow_gives_exact_size(
    shared_server: InProcessService,
    client_factory: ClientFactory,
    size: tuple[int, int],
    scale: str,
    expected: tuple[int, int],
) -> None:
    client = client_factory(shared_server)
    job = client.upscale(make_image(size), scale)
    assert job["status"] == "Succeed", job
    assert job["error"] is None
    assert job["progress"] == 100
    assert len(job["image_urls"]) == 1
    url = job["image_urls"][0]
    assert url.startswith(shared_server.base_url + "/files/")
    response = client.download(url)  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    result = open_image(response.content)
    assert result.format == "PNG"
    assert result.size == expected


def test_result_looks_like_the_original(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    original = open_image(make_image((120, 80))).convert("RGB")
    client = client_factory(shared_server)
    job = client.upscale(make_image((120, 80)), "1K")
    result = open_image(client.download(job["image_urls"][0]).content).convert("RGB")
    back = result.resize(original.size, Image.Resampling.BOX)
    diff = [abs(a - b) for a, b in zip(back.tobytes(), original.tobytes(), strict=True)]
    assert sum(diff) / len(diff) < 10


def test_exif_rotated_jpeg_is_upright(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    # Stored 300x200 with red on the left and blue on the right; orientation 6 says "rotate
    # 90 degrees clockwise to display", so upright it is 200x300 with red on top.
    stored = Image.new("RGB", (300, 200), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 150, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=95)
    client = client_factory(shared_server)
    job = client.upscale(buffer.getvalue(), "1K")
    result = open_image(client.download(job["image_urls"][0]).content).convert("RGB")
    assert result.size == (683, 1024)
    top = result.getpixel((341, 100))
    bottom = result.getpixel((341, 900))
    assert top[0] > 200, top
    assert top[2] < 60, top
    assert bottom[2] > 200, bottom
    assert bottom[0] < 60, bottom


def test_grayscale_stays_grayscale(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    job = client.upscale(make_image((100, 50), mode="L"), "1K")
    result = open_image(client.download(job["image_urls"][0]).content)
    assert result.mode == "L"
    assert result.size == (1024, 512)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_documented_formats_are_accepted(
    shared_server: InProcessService, client_factory: ClientFactory, fmt: str
) -> None:
    client = client_factory(shared_server)
    job = client.upscale(make_image((64, 40), fmt=fmt), "1K")
    assert job["status"] == "Succeed", job
    assert open_image(client.download(job["image_urls"][0]).content).size == (1024, 640)


def test_pending_job_has_no_urls(tmp_path: Path, client_factory: ClientFactory) -> None:
    service = InProcessService(tmp_path / "data", IMAGETUNE_WORKERS="0").start()
    client = client_factory(service)
    job_id = client.submit(make_image(), "1K").json()["job_id"]
    body = client.job(job_id).json()
    assert body["job_id"] == job_id
    assert body["status"] == "Pending"
    assert body["image_urls"] == []
    assert body["error"] is None
    assert body["scale"] == "1K"
    service.stop()


def test_unknown_job_is_404(shared_server: InProcessService, client_factory: ClientFactory) -> None:
    response = client_factory(shared_server).job(str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Job not found"}


def test_another_users_job_is_404(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    owner, stranger = client_factory(shared_server), client_factory(shared_server)
    job_id = owner.submit(make_image(), "1K").json()["job_id"]
    assert owner.job(job_id).status_code == 200
    response = stranger.job(job_id)
    assert response.status_code == 404
    assert response.json() == {"detail": "Job not found"}


def test_same_users_other_key_sees_the_job(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    name = f"two-keys-{uuid.uuid4().hex[:6]}"
    accounts_for(shared_server.data_dir).create_user(name)
    first = client_factory(shared_server, user=name)
    second = client_factory(shared_server, user=name)
    job_id = first.submit(make_image(), "1K").json()["job_id"]
    assert second.job(job_id).status_code == 200


@pytest.mark.parametrize("job_id", ["not-a-uuid", "123", "550e8400-e29b-41d4-a716-44665544000g"])
def test_malformed_job_id_is_422(
    shared_server: InProcessService, client_factory: ClientFactory, job_id: str
) -> None:
    response = client_factory(shared_server).job(job_id)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["path", "job_id"]]


def test_uppercase_job_id_finds_the_job(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    job_id = client.submit(make_image(), "1K").json()["job_id"]
    response = client.job(job_id.upper())
    assert response.status_code == 200
    assert response.json()["job_id"] == job_id
