"""S3 storage against moto's standalone server over HTTP, and the service on it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from imagetune.storage.base import StorageError
from imagetune.storage.s3 import MAX_PRESIGN_SECONDS, S3Storage
from tests.objectstores import S3_ENV
from tests.support import make_image, open_image


@pytest.fixture
def storage(s3_bucket: tuple[Any, str]) -> S3Storage:
    client, bucket = s3_bucket
    return S3Storage(client, bucket, "/imagetune/")


def test_write_read_exists_delete(storage: S3Storage, s3_bucket: tuple[Any, str]) -> None:
    client, bucket = s3_bucket
    storage.write("results/a.png", b"\x89PNG data")
    assert storage.read("results/a.png") == b"\x89PNG data"
    assert storage.exists("results/a.png")
    stored = client.head_object(Bucket=bucket, Key="imagetune/results/a.png")
    assert stored["ContentType"] == "image/png"
    storage.delete("results/a.png")
    storage.delete("results/a.png")  # idempotent
    assert not storage.exists("results/a.png")
    with pytest.raises(FileNotFoundError):
        storage.read("results/a.png")


def test_presigned_url_fetches_without_credentials(storage: S3Storage) -> None:
    storage.write("results/b.png", make_image())
    url = storage.url("results/b.png", 3600)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == make_image()
    tampered = url.replace("results/b.png", "results/c.png")
    assert httpx.get(tampered).status_code in (403, 404)


def test_presign_expiry_is_capped_at_seven_days(storage: S3Storage) -> None:
    url = storage.url("results/x.png", 30 * 24 * 3600)
    assert int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]) == MAX_PRESIGN_SECONDS


def test_keys_are_validated(storage: S3Storage) -> None:
    with pytest.raises(StorageError):
        storage.write("../outside", b"x")


def test_health(storage: S3Storage, s3_bucket: tuple[Any, str]) -> None:
    client, _ = s3_bucket
    assert storage.trouble() is None
    assert "no-such-bucket-here" in (S3Storage(client, "no-such-bucket-here").trouble() or "")


def test_service_on_s3(server_factory, client_factory, s3_bucket: tuple[Any, str]) -> None:
    client, bucket = s3_bucket
    server = server_factory(
        IMAGETUNE_WORKERS="1",
        IMAGETUNE_STORAGE_URL=f"s3://{bucket}/service",
        IMAGETUNE_S3_ENDPOINT_URL=client.meta.endpoint_url,
        processor="sleep:0",
        **S3_ENV,
    )
    api = client_factory(server)
    job = api.upscale(make_image((60, 40)), "1K")
    assert job["status"] == "Succeed"
    [url] = job["image_urls"]
    assert url.startswith(client.meta.endpoint_url)  # presigned, straight from the store
    assert open_image(httpx.get(url).content).size == (1024, 683)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {f"service/originals/{job['job_id']}", f"service/results/{job['job_id']}.png"}
    assert not (server.data_dir / "files").exists()
    assert server.http.get("/readyz").json()["storage"] is True
    # Results come from the store: the local files route does not exist at all.
    files = server.http.get(f"/files/results/{job['job_id']}.png?expires=9999999999&sig=x")
    assert (files.status_code, files.json()) == (404, {"detail": "Not Found"})
