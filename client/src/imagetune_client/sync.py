"""``Client``: the blocking client."""

# Generated from asyncio_client.py (make client-sync): edit that file, not this one.

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, overload

import httpx

from imagetune_client._base import (
    UPSCALE_PATH,
    BaseClient,
    ImageInput,
    ProgressCallback,
    default_output,
    write_atomically,
)
from imagetune_client.errors import (
    APIConnectionError,
    APIError,
    JobFailed,
    LinkExpired,
    WaitTimeout,
    error_for,
)
from imagetune_client.models import FAILED, Job, Model

log = logging.getLogger("imagetune_client")


class Client(BaseClient):
    """A client of one imagetune server; use it as a context manager, or call ``close``."""

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
        super().__init__(
            base_url,
            api_key,
            max_retries=max_retries,
            max_retry_after=max_retry_after,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._http = httpx.Client(**self._http_options())

    def submit(
        self,
        image: ImageInput,
        scale: str = "2K",
        model: str | None = None,
        output_format: str | None = None,
        idempotency_key: str | None = None,
        metadata: str | None = None,
    ) -> Job:
        """Upload ``image`` and create a job; the job as the server then describes it."""
        request = self._submit_request(
            image, scale, model, output_format, idempotency_key, metadata
        )
        response = self._send("POST", UPSCALE_PATH, **request)
        return self.get(response.json()["job_id"])

    def get(self, job_id: str | Job) -> Job:
        """The job's current state."""
        job_id = job_id.job_id if isinstance(job_id, Job) else str(job_id)
        response = self._send("GET", f"/public/v1/job/{job_id}", headers=self._auth)
        return Job.from_body(response.json())

    def wait(
        self,
        job_id: str | Job,
        timeout: float = 600.0,
        on_progress: ProgressCallback | None = None,
    ) -> Job:
        """Poll (every 0.5 s, growing to 2 s) until the job succeeds; the finished job.

        Raises ``JobFailed`` when it fails and ``WaitTimeout`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        interval: float | None = None
        while True:
            job = self.get(job_id)
            if on_progress is not None:
                on_progress(job)
            if job.status == FAILED:
                raise JobFailed(job)
            if job.done:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(job, timeout)
            interval = self._poll_interval(interval)
            time.sleep(min(interval, left))

    @overload
    def download(self, job: str | Job) -> bytes: ...

    @overload
    def download(self, job: str | Job, path: str | os.PathLike[str]) -> Path: ...

    def download(self, job: str | Job, path: str | os.PathLike[str] | None = None) -> bytes | Path:
        """The first result's bytes; with ``path``, written there (the path is returned)."""
        current = self.get(job) if isinstance(job, str) else job
        try:
            response = self._send("GET", self._result_url(current))
        except LinkExpired:
            # Result links expire; every poll issues a fresh one.
            fresh = self.get(current)
            response = self._send("GET", self._result_url(fresh))
        data = response.content
        if path is None:
            return data
        target = Path(path)
        write_atomically(target, data)
        return target

    def upscale(
        self,
        image: ImageInput,
        scale: str = "4K",
        output: str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        output_format: str | None = None,
        idempotency_key: str | None = None,
        metadata: str | None = None,
        timeout: float = 600.0,
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        """Submit, wait and download in one call; the path written.

        ``output`` defaults to ``NAME-SCALE.EXT`` beside ``image`` when it is a path.
        """
        target = Path(output) if output is not None else default_output(image, scale, output_format)
        job = self.submit(image, scale, model, output_format, idempotency_key, metadata)
        finished = self.wait(job, timeout=timeout, on_progress=on_progress)
        return self.download(finished, target)

    def models(self) -> list[Model]:
        """The models the server offers (values of ``submit``'s ``model``)."""
        response = self._send("GET", "/public/v1/models", headers=self._auth)
        return [Model.from_body(item) for item in response.json()]

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            error: APIError | None = None
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as e:
                delay = self._retry_delay(attempt, None)
                if delay is None:
                    raise APIConnectionError(f"{method} {url}: {e!r}") from e
                reason = repr(e)
            else:
                if response.is_success:
                    return response
                error = error_for(response)
                delay = self._retry_delay(attempt, error)
                if delay is None:
                    raise error
                reason = str(error)
            attempt += 1
            log.info(
                "retrying %s %s in %.1f s (retry %d of %d): %s",
                method, url, delay, attempt, self.max_retries, reason,
            )  # fmt: skip
            time.sleep(delay)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
