"""Every row of the contract's tables (shared API.md), once, over real HTTP against a real
`imagetune serve` running the real engine, and the whole flow once per model.

The many variations of each row run in-process (the other modules of tests/api)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.support import ApiClient, ServerProcess, accounts_for, make_image, open_image

pytestmark = pytest.mark.slow

INVALID = {"detail": "Invalid API key"}
NO_USER = {"detail": "Not Found User"}


def upscale(server: ServerProcess, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/public/v1/image-tune/upscale",
        headers=headers,
        files={"image": ("a.png", make_image(), "image/png")},
        data={"scale": "1K"},
    )


def job(server: ServerProcess, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.base_url}/public/v1/job/{uuid.uuid4()}", headers=headers)


Call = Callable[[ServerProcess, dict[str, str]], httpx.Response]
CALLS = [pytest.param(upscale, id="upscale"), pytest.param(job, id="job")]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
        # "Bearer " with its trailing space arrives stripped: this is the empty key.
        pytest.param({"Authorization": "Bearer"}, id="empty-key"),
        pytest.param({"Authorization": "Bearer itk_unknownunknownunknown"}, id="unknown"),
    ],
)
def test_authentication_rows(real_server: ServerProcess, call: Call, headers) -> None:
    response = call(real_server, headers)
    assert (response.status_code, response.json()) == (401, INVALID)


@pytest.mark.parametrize("call", CALLS)
def test_revoked_key_and_deleted_user_rows(real_server: ServerProcess, call: Call) -> None:
    accounts = accounts_for(real_server.data_dir)
    revoked, gone = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("revoked", "gone"))
    for name in (revoked, gone):
        accounts.create_user(name)
    revoked_key, gone_key = accounts.create_key(revoked).key, accounts.create_key(gone).key
    accounts.revoke_key(revoked_key)
    accounts.delete_user(gone)
    response = call(real_server, {"Authorization": f"Bearer {revoked_key}"})
    assert (response.status_code, response.json()) == (401, INVALID)
    response = call(real_server, {"Authorization": f"Bearer {gone_key}"})
    assert (response.status_code, response.json()) == (404, NO_USER)


@pytest.fixture
def client(real_server: ServerProcess, client_factory: ClientFactory) -> ApiClient:
    return client_factory(real_server)


def test_undecodable_image_row(client: ApiClient) -> None:
    response = client.submit(b"just some words", "1K")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid image file")


@pytest.mark.parametrize(
    ("request_args", "field"),
    [
        pytest.param({"data": {"scale": "1K"}}, "image", id="image-missing"),
        pytest.param({"files": {"image": ("a.png", make_image())}}, "scale", id="scale-missing"),
        pytest.param(
            {"files": {"image": ("a.png", make_image())}, "data": {"scale": "8K"}},
            "scale",
            id="scale-unknown",
        ),
        pytest.param({"json": {"scale": "1K"}}, "image", id="wrong-content-type"),
        pytest.param(
            {"files": {"image": ("a.png", make_image())}, "data": {"scale": "1K", "model": "x"}},
            "model",
            id="extension-unknown",
        ),
    ],
)
def test_validation_rows(client: ApiClient, request_args: dict[str, object], field: str) -> None:
    response = client.http.post("/public/v1/image-tune/upscale", **request_args)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]


def test_job_rows(real_server: ServerProcess, client_factory: ClientFactory) -> None:
    owner, stranger = client_factory(real_server), client_factory(real_server)
    assert owner.job(str(uuid.uuid4())).json() == {"detail": "Job not found"}
    job_id = owner.submit(make_image((40, 30)), "1K").json()["job_id"]
    response = stranger.job(job_id)
    assert (response.status_code, response.json()) == (404, {"detail": "Job not found"})
    response = owner.job("not-a-uuid")
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["path", "job_id"]]


@pytest.mark.parametrize(
    ("model", "fmt", "size", "scale", "expected"),
    [
        ("photo", "PNG", (60, 40), "1K", (1024, 683)),
        ("photo", "JPEG", (40, 60), "2K", (1365, 2048)),  # lossy: the denoising network
        ("enhance", "PNG", (40, 30), "1K", (1024, 768)),
        ("anime", "PNG", (50, 50), "1K", (1024, 1024)),
        ("classic", "PNG", (60, 40), "4K", (4096, 2731)),
    ],
)
def test_submit_poll_download_per_model(
    client: ApiClient,
    model: str,
    fmt: str,
    size: tuple[int, int],
    scale: str,
    expected: tuple[int, int],
) -> None:
    submitted = client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("photo", make_image(size, fmt=fmt, quality=75), "image/jpeg")},
        data={"scale": scale, "model": model},
    )
    assert submitted.status_code == 200, submitted.text
    assert list(submitted.json()) == ["job_id"]
    job_id = submitted.json()["job_id"]
    assert client.job(job_id).json()["status"] in ("Pending", "Succeed")
    done = client.wait(job_id, timeout=120)
    assert (done["status"], done["error"], done["model"]) == ("Succeed", None, model)
    [url] = done["image_urls"]
    assert url.startswith(f"{client.http.base_url}/files/results/{job_id}.png?")
    result = httpx.get(url)  # a plain GET, no Authorization header
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/png"
    assert open_image(result.content).size == expected
