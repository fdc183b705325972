"""Storage in an S3-compatible object store; results are fetched through presigned URLs."""

from __future__ import annotations

import mimetypes
from typing import Any

from imagetune.storage.base import validate_key

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""SigV4 presigned URLs cannot outlive seven days."""


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
        self._client.put_object(
            Bucket=self._bucket, Key=self._object(key), Body=data, ContentType=content_type
        )

    def read(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._object(key))
        except self._client.exceptions.NoSuchKey as e:
            raise FileNotFoundError(key) from e
        body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=self._object(key))
        except self._client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._object(key))

    def url(self, key: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": self._object(key)},
            ExpiresIn=max(1, min(expires_in, MAX_PRESIGN_SECONDS)),
        )
        return url

    def healthy(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except Exception:
            return False
        return True
