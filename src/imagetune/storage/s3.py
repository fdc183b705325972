"""Storage in an S3-compatible object store; results are fetched through presigned URLs."""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagetune.storage.base import StorageUnavailable, validate_key

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""SigV4 presigned URLs cannot outlive seven days."""


@contextlib.contextmanager
def _reachable(action: str) -> Iterator[None]:
    """Faults of the store's server or the way to it as StorageUnavailable: botocore's own
    errors (connection refused or reset, timeouts, after its retries) and 5xx answers."""
    try:
        yield
    except BotoCoreError as e:
        raise StorageUnavailable(f"cannot {action}: {e}") from e
    except ClientError as e:
        if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise StorageUnavailable(f"cannot {action}: {e}") from e
        raise


class S3Storage:
    """Objects under ``prefix`` in ``bucket``. ``client`` is a boto3 S3 client; the bucket
    is the operator's to create."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def _object(self, key: str) -> str:
        key = validate_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def write(self, key: str, data: bytes) -> None:
        # A PUT is atomic: readers see the whole object or none.
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with _reachable(f"write {key}"):
            self._client.put_object(
                Bucket=self._bucket, Key=self._object(key), Body=data, ContentType=content_type
            )

    def read(self, key: str) -> bytes:
        with _reachable(f"read {key}"):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=self._object(key))
            except self._client.exceptions.NoSuchKey as e:
                raise FileNotFoundError(key) from e
            body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        try:
            with _reachable(f"look up {key}"):
                self._client.head_object(Bucket=self._bucket, Key=self._object(key))
        except self._client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        with _reachable(f"delete {key}"):
            self._client.delete_object(Bucket=self._bucket, Key=self._object(key))

    def url(self, key: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": self._object(key)},
            ExpiresIn=max(1, min(expires_in, MAX_PRESIGN_SECONDS)),
        )
        return url

    def trouble(self) -> str | None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except (BotoCoreError, ClientError) as e:
            return f"bucket {self._bucket} cannot be reached: {e}"
        return None

    def written_before(self, prefix: str, before: datetime) -> Iterator[str]:
        folder = self._object(prefix.rstrip("/")) + "/"
        with _reachable(f"list {prefix}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=folder
            ):
                for item in page.get("Contents", ()):
                    if item["LastModified"] < before:
                        yield prefix.rstrip("/") + "/" + item["Key"][len(folder) :]
