"""What the sync and async clients share: settings, request parts, the retry policy."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Union

import httpx

from imagetune_client.errors import (
    APIError,
    ImagetuneClientError,
    JobFailed,
    RateLimited,
    parse_retry_after,
)
from imagetune_client.models import FAILED, SUCCEED, Job

__version__ = "0.1.0"

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
UPSCALE_PATH = "/public/v1/image-tune/upscale"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
POLL_FIRST = 0.5
POLL_MAX = 2.0
POLL_GROWTH = 1.5
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0

ImageInput = Union[str, "os.PathLike[str]", bytes, IO[bytes]]
"""A path, the encoded bytes, or a binary file opened for reading."""

ProgressCallback = Callable[[Job], None]
"""Called with the job after every poll of ``wait``."""


class NoResult(ImagetuneClientError):
    """``download`` on a job that has no result: still Pending, or its results expired."""


class BaseClient:
    """Settings and request building; no I/O."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        max_retries: int = 3,
        max_retry_after: float = 60.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url or os.environ.get("IMAGETUNE_BASE_URL") or DEFAULT_BASE_URL
        key = api_key or os.environ.get("IMAGETUNE_API_KEY")
        if not key:
            raise ImagetuneClientError("no API key: pass api_key= or set IMAGETUNE_API_KEY")
        self.api_key = key
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)

    def _http_options(self) -> dict[str, Any]:
        # No Authorization here: result URLs are presigned and may live on another host
        # (an object store), which must not see the key. API requests add it one by one.
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "headers": {"User-Agent": f"imagetune-client/{__version__}"},
        }

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def _submit_request(
        self,
        image: ImageInput,
        scale: str,
        model: str | None,
        output_format: str | None,
        idempotency_key: str | None,
        metadata: str | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for the POST; read once, so every retry resends the same bytes."""
        data, filename = read_image(image)
        fields = {"scale": scale}
        if model is not None:
            fields["model"] = model
        if output_format is not None:
            fields["output_format"] = output_format
        if metadata is not None:
            fields["metadata"] = metadata
        # Always a key: a retried upload (a lost answer, a 503) can never make a second job.
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        return {
            "files": {"image": (filename, data, "application/octet-stream")},
            "data": fields,
            "headers": {**self._auth, "Idempotency-Key": key},
        }

    def _retry_delay(self, attempt: int, error: APIError | None) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or None to give up now.

        ``error`` is None for a connection error.
        """
        if attempt >= self.max_retries:
            return None
        if error is None:
            return backoff(attempt)
        if error.status_code not in RETRY_STATUSES:
            return None
        retry_after = (
            error.retry_after
            if isinstance(error, RateLimited)
            else parse_retry_after(error.response.headers.get("retry-after"))
            if error.response is not None
            else None
        )
        if retry_after is None:
            return backoff(attempt)
        if retry_after > self.max_retry_after:
            return None  # longer than the caller would wait: tell them at once
        return retry_after

    @staticmethod
    def _poll_interval(previous: float | None) -> float:
        return POLL_FIRST if previous is None else min(POLL_MAX, previous * POLL_GROWTH)

    @staticmethod
    def _result_url(job: Job) -> str:
        if job.status == FAILED:
            raise JobFailed(job)
        if job.status != SUCCEED:
            raise NoResult(f"job {job.job_id} has no result yet ({job.status})")
        if not job.image_urls:
            raise NoResult(f"the results of job {job.job_id} have expired")
        return job.image_urls[0]


def backoff(attempt: int) -> float:
    """Exponential back-off with jitter: about 0.5, 1, 2, 4, 8, 8 ... seconds."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def read_image(image: ImageInput) -> tuple[bytes, str]:
    """The bytes and a file name for ``image``."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "image"
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.read_bytes(), path.name
    data = image.read()
    if not isinstance(data, bytes):
        raise TypeError("image must be a path, bytes or a file opened in binary mode")
    name = getattr(image, "name", None)
    return data, Path(name).name if isinstance(name, str) else "image"


def default_output(image: ImageInput, scale: str, output_format: str | None) -> Path:
    """``NAME-SCALE.EXT`` beside a path, as the ``imagetune upscale`` command names files."""
    if not isinstance(image, (str, os.PathLike)):
        raise ValueError("output= is needed when the image is not a path")
    path = Path(image)
    extension = {"jpeg": "jpg"}.get(output_format or "png", output_format or "png")
    return path.with_name(f"{path.stem}-{scale}.{extension}")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
