"""POST /public/v1/image-tune/upscale: validation rows and the job id it returns."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.support import make_image

CANONICAL_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def test_returns_canonical_job_id_at_once(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    response = client.submit(make_image(), "2K")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["job_id"]
    assert CANONICAL_UUID.match(body["job_id"])
    assert client.job(body["job_id"]).json()["status"] in ("Pending", "Succeed")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, this is text", id="text"),
        pytest.param(b"<html><body>hi</body></html>", id="html"),
        pytest.param(make_image(fmt="PNG")[:200], id="truncated-png"),
        pytest.param(make_image(fmt="JPEG")[:300], id="truncated-jpeg"),
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', id="svg"),
        pytest.param(b"%PDF-1.4\n1 0 obj<<>>endobj\n", id="pdf"),
    ],
)
def test_undecodable_image_is_400(
    shared_server: InProcessService, client_factory: ClientFactory, payload: bytes
) -> None:
    response = client_factory(shared_server).submit(payload, "1K")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail == "Invalid image file" or detail.startswith("Invalid image file: ")


def test_missing_image_is_422_naming_the_field(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    response = client.http.post("/public/v1/image-tune/upscale", data={"scale": "1K"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "image"]]


def test_missing_scale_is_422_naming_the_field(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    response = client.http.post(
        "/public/v1/image-tune/upscale", files={"image": ("a.png", make_image(), "image/png")}
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "scale"]]


@pytest.mark.parametrize("scale", ["8K", "2k", "", "1024", "1K ", "4K,2K"])
def test_unknown_scale_is_422(
    shared_server: InProcessService, client_factory: ClientFactory, scale: str
) -> None:
    response = client_factory(shared_server).submit(make_image(), scale)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "scale"]]


def test_json_body_is_422(shared_server: InProcessService, client_factory: ClientFactory) -> None:
    client = client_factory(shared_server)
    response = client.http.post("/public/v1/image-tune/upscale", json={"scale": "1K"})
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert ("body", "image") in locs


def test_image_sent_as_text_field_is_422(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    response = client.http.post(
        "/public/v1/image-tune/upscale", data={"scale": "1K", "image": "not a file"}
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "image"]]


def test_rejected_upload_creates_no_job(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    originals = shared_server.data_dir / "files" / "originals"
    before = set(originals.iterdir()) if originals.exists() else set()
    client = client_factory(shared_server)
    assert client.submit(b"not an image", "1K").status_code == 400
    after = set(originals.iterdir()) if originals.exists() else set()
    assert after == before


def test_job_id_is_unique_per_submission(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    client = client_factory(shared_server)
    ids = {client.submit(make_image(seed=i), "1K").json()["job_id"] for i in range(5)}
    assert len(ids) == 5
    assert all(uuid.UUID(i) for i in ids)
