"""``imagetune_client.Client`` against a real ``imagetune serve`` over HTTP."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import httpx
import pytest
from imagetune_client import (
    APIError,
    AuthenticationError,
    Client,
    IdempotencyKeyReused,
    InvalidImage,
    Job,
    JobFailed,
    JobNotFound,
    NoResult,
    UploadTooLarge,
    UserNotFound,
    ValidationError,
    WaitTimeout,
)
from sqlalchemy import select

from imagetune.db.engine import make_engine
from imagetune.db.models import IdempotencyKey
from tests.api.test_hostile import heic
from tests.client.conftest import MAX_UPLOAD_BYTES, new_key
from tests.conftest import ServerFactory
from tests.support import ServerProcess, accounts_for, make_image, open_image


def test_upscale_end_to_end_writes_name_scale_beside_the_image(
    client: Client, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_image((60, 40)))
    written = client.upscale(photo, scale="1K", model="classic")
    assert written == tmp_path / "photo-1K.png"
    assert open_image(written.read_bytes()).size == (1024, 683)


def test_upscale_with_options_and_explicit_output(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "big.jpg"
    written = client.upscale(
        make_image((40, 60)), scale="2K", output=str(target), output_format="jpeg"
    )
    assert written == target
    image = open_image(target.read_bytes())
    assert (image.format, image.size) == ("JPEG", (1365, 2048))
    with pytest.raises(ValueError, match="output"):
        client.upscale(make_image(), scale="1K")  # bytes have no name to derive one from


def test_a_heic_photo_to_avif_is_named_for_its_format(client: Client, tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(heic("rgb8"))
    written = client.upscale(photo, scale="1K", output_format="avif")
    assert written == tmp_path / "IMG_0001-1K.avif"
    assert open_image(written.read_bytes()).format == "AVIF"


def test_submit_get_wait_download(client: Client, tmp_path: Path) -> None:
    job = client.submit(make_image((48, 32)), scale="1K", model="classic")
    assert isinstance(job, Job)
    assert uuid.UUID(job.job_id)
    assert job.status in {"Pending", "Succeed"}
    assert (job.scale, job.model, job.output_format) == ("1K", "classic", "png")
    assert client.get(job.job_id).job_id == job.job_id
    seen: list[Job] = []
    done = client.wait(job, timeout=120, on_progress=seen.append)
    assert done.status == "Succeed"
    assert done.progress == 100
    assert len(done.image_urls) == 1
    assert seen[-1] == done
    assert open_image(client.download(done)).size == (1024, 683)
    target = client.download(done.job_id, tmp_path / "result.png")
    assert target == tmp_path / "result.png"
    assert open_image(target.read_bytes()).size == (1024, 683)


def test_images_as_path_string_and_file(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "in.png"
    path.write_bytes(make_image((30, 20)))
    by_name = client.submit(str(path), scale="1K", model="classic")
    with path.open("rb") as file:
        by_file = client.submit(file, scale="1K", model="classic")
    by_bytes = client.submit(io.BytesIO(path.read_bytes()), scale="1K", model="classic")
    for job in (by_name, by_file, by_bytes):
        done = client.wait(job, timeout=120)
        assert open_image(client.download(done)).size == (1024, 683)


def test_an_expired_link_is_refreshed(client: Client) -> None:
    done = client.wait(client.submit(make_image(), scale="1K", model="classic"), timeout=120)
    url = done.image_urls[0]
    tampered = Job(job_id=done.job_id, status="Succeed", image_urls=[url.replace("sig=", "sig=0")])
    assert httpx.get(tampered.image_urls[0]).status_code == 403
    assert open_image(client.download(tampered)).size == (1024, 768)


def test_download_of_an_unfinished_job(server_factory: ServerFactory) -> None:
    server = server_factory(IMAGETUNE_WORKERS="0")
    with Client(server.base_url, new_key(server)) as client:
        job = client.submit(make_image(), scale="1K")
        with pytest.raises(NoResult, match="Pending"):
            client.download(job)
        with pytest.raises(WaitTimeout) as timeout:
            client.wait(job, timeout=1.0)
        assert timeout.value.job.status == "Pending"
        assert timeout.value.timeout == 1.0


def test_models(client: Client) -> None:
    models = client.models()
    assert {m.name for m in models} == {"photo", "enhance", "anime", "classic"}
    assert [m.name for m in models if m.default] == ["photo"]
    assert all(m.description for m in models)


def test_the_client_always_sends_an_idempotency_key(client: Client, server: ServerProcess) -> None:
    image = make_image(seed=5)
    first = client.submit(image, scale="1K", idempotency_key="mine-1")
    assert client.submit(image, scale="1K", idempotency_key="mine-1").job_id == first.job_id
    with pytest.raises(IdempotencyKeyReused) as reused:
        client.submit(make_image(seed=6), scale="1K", idempotency_key="mine-1")
    assert reused.value.status_code == 422
    assert reused.value.detail == "Idempotency-Key was already used for a different request"
    # Without one, the client makes a fresh UUID for each submission.
    generated = client.submit(image, scale="1K")
    assert generated.job_id != first.job_id
    engine = make_engine(f"sqlite:///{server.data_dir / 'imagetune.db'}")
    with engine.connect() as connection:
        key = connection.scalar(
            select(IdempotencyKey.key).where(IdempotencyKey.job_id == uuid.UUID(generated.job_id))
        )
    engine.dispose()
    assert key is not None
    assert uuid.UUID(key)


def test_error_answers_become_exceptions(client: Client, server: ServerProcess) -> None:
    with pytest.raises(InvalidImage) as invalid:
        client.submit(b"not an image at all", scale="1K")
    assert invalid.value.status_code == 400
    assert invalid.value.detail.startswith("Invalid image file")

    with pytest.raises(UploadTooLarge) as large:
        client.submit(b"\0" * (MAX_UPLOAD_BYTES + 1), scale="1K")
    assert large.value.status_code == 413
    assert str(MAX_UPLOAD_BYTES) in large.value.detail

    with pytest.raises(ValidationError) as invalid_field:
        client.submit(make_image(), scale="9K")
    assert invalid_field.value.status_code == 422
    assert invalid_field.value.detail[0]["loc"] == ["body", "scale"]
    assert "scale" in str(invalid_field.value)

    with pytest.raises(JobNotFound) as missing:
        client.get(str(uuid.uuid4()))
    assert (missing.value.status_code, missing.value.detail) == (404, "Job not found")

    with pytest.raises(ValidationError):
        client.get("not-a-uuid")

    with (
        Client(server.base_url, "it-wrong-key") as stranger,
        pytest.raises(AuthenticationError) as unauthenticated,
    ):
        stranger.models()
    assert (unauthenticated.value.status_code, unauthenticated.value.detail) == (
        401,
        "Invalid API key",
    )


def test_a_deleted_user_is_user_not_found(server: ServerProcess) -> None:
    accounts = accounts_for(server.data_dir)
    accounts.create_user("leaving")
    key = new_key(server, "leaving")
    accounts.delete_user("leaving")
    with Client(server.base_url, key) as client, pytest.raises(UserNotFound) as gone:
        client.models()
    assert (gone.value.status_code, gone.value.detail) == (404, "Not Found User")
    assert isinstance(gone.value, APIError)


@pytest.mark.slow
def test_a_failed_job_raises_job_failed(server_factory: ServerFactory) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="1", IMAGETUNE_JOB_TIMEOUT="1", IMAGETUNE_ENGINE_TILE="32"
    )
    with Client(server.base_url, new_key(server)) as client:
        job = client.submit(make_image((128, 96)), scale="1K", model="enhance")
        with pytest.raises(JobFailed) as failed:
            client.wait(job, timeout=120)
        assert failed.value.job.status == "Failed"
        assert failed.value.error == "Processing took longer than the 1 s limit"
        with pytest.raises(JobFailed):
            client.download(failed.value.job)


def test_no_key_is_an_error_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGETUNE_API_KEY", raising=False)
    with pytest.raises(Exception, match="IMAGETUNE_API_KEY"):
        Client("http://127.0.0.1:9")


def test_base_url_and_key_from_the_environment(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGETUNE_BASE_URL", server.base_url)
    monkeypatch.setenv("IMAGETUNE_API_KEY", new_key(server))
    with Client() as client:
        assert client.models()
