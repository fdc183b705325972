"""Authentication rows of the contract, on both endpoints, and that they come first."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.inprocess import InProcessService
from tests.support import accounts_for, make_image

INVALID = {"detail": "Invalid API key"}
NO_USER = {"detail": "Not Found User"}


def upscale(server: InProcessService, headers: dict[str, str], **data: str) -> httpx.Response:
    return server.http.post(
        "/public/v1/image-tune/upscale",
        headers=headers,
        files={"image": ("a.png", make_image(), "image/png")},
        data=data or {"scale": "1K"},
    )


def job(server: InProcessService, headers: dict[str, str], job_id: str = "") -> httpx.Response:
    return server.http.get(f"/public/v1/job/{job_id or uuid.uuid4()}", headers=headers)


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
        pytest.param({"Authorization": "Bearer not-even-our-format"}, id="foreign"),
    ],
)
def test_bad_credentials_are_401(shared_server: InProcessService, call, headers) -> None:
    response = call(shared_server, headers)
    assert response.status_code == 401
    assert response.json() == INVALID


@pytest.mark.parametrize("call", CALLS)
def test_revoked_key_is_401(shared_server: InProcessService, call) -> None:
    accounts = accounts_for(shared_server.data_dir)
    name = f"revoked-{call.__name__}"
    accounts.create_user(name)
    key = accounts.create_key(name).key
    assert call(shared_server, {"Authorization": f"Bearer {key}"}).status_code != 401
    accounts.revoke_key(key)
    # Good keys are trusted for KEY_CACHE_SECONDS (tests/api/test_key_cache.py).
    deadline = time.monotonic() + 2
    while (response := call(shared_server, {"Authorization": f"Bearer {key}"})).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still worked after 2 s"
        time.sleep(0.05)
    assert response.json() == INVALID


@pytest.mark.parametrize("call", CALLS)
def test_deleted_user_is_404(shared_server: InProcessService, call) -> None:
    accounts = accounts_for(shared_server.data_dir)
    name = f"gone-{call.__name__}"
    accounts.create_user(name)
    key = accounts.create_key(name).key
    accounts.delete_user(name)
    response = call(shared_server, {"Authorization": f"Bearer {key}"})
    assert response.status_code == 404
    assert response.json() == NO_USER


def test_bearer_scheme_is_case_insensitive(
    shared_server: InProcessService, client_factory: ClientFactory
) -> None:
    key = client_factory(shared_server).http.headers["Authorization"].split()[1]
    response = job(shared_server, {"Authorization": f"bearer {key}"})
    assert response.json() == {"detail": "Job not found"}


def test_auth_is_checked_before_validation(shared_server: InProcessService) -> None:
    bad_key = {"Authorization": "Bearer itk_unknownunknownunknown"}
    response = shared_server.http.post(
        "/public/v1/image-tune/upscale",
        headers=bad_key,
        data={"scale": "9K"},
    )
    assert (response.status_code, response.json()) == (401, INVALID)
    response = shared_server.http.post(
        "/public/v1/image-tune/upscale",
        headers={**bad_key, "Content-Type": "multipart/form-data; boundary=x"},
        content=b"garbage",
    )
    assert (response.status_code, response.json()) == (401, INVALID)
    response = job(shared_server, bad_key, job_id="not-a-uuid")
    assert (response.status_code, response.json()) == (401, INVALID)


def test_deleted_user_is_404_before_validation(shared_server: InProcessService) -> None:
    accounts = accounts_for(shared_server.data_dir)
    accounts.create_user("gone-early")
    key = accounts.create_key("gone-early").key
    accounts.delete_user("gone-early")
    headers = {"Authorization": f"Bearer {key}"}
    assert upscale(shared_server, headers, scale="9K").json() == NO_USER
    assert job(shared_server, headers, job_id="not-a-uuid").json() == NO_USER
