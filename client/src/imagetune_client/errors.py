"""Exceptions: every non-2xx answer becomes an ``APIError`` subclass named for what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from imagetune_client.models import Job


class ImagetuneClientError(Exception):
    """Base class of everything this package raises."""


class APIConnectionError(ImagetuneClientError):
    """The server could not be reached (or the connection broke), retries included."""


class APIError(ImagetuneClientError):
    """A non-2xx answer: ``status_code`` and the server's ``detail``."""

    def __init__(self, status_code: int, detail: Any, response: httpx.Response | None = None):
        self.status_code = status_code
        self.detail = detail
        self.response = response
        super().__init__(f"{status_code}: {detail_text(detail)}")


class BadRequest(APIError):
    """400: a malformed request the server would not read."""


class InvalidImage(BadRequest):
    """400 ``Invalid image file: ...``: the upload is not an image the server can decode."""


class AuthenticationError(APIError):
    """401: the API key is missing, unknown or revoked."""


class LinkExpired(APIError):
    """403 on a result URL: its signature expired (poll the job again for a fresh one)."""


class NotFound(APIError):
    """404."""


class UserNotFound(NotFound):
    """404 ``Not Found User``: the key is valid but its user was deleted."""


class JobNotFound(NotFound):
    """404 ``Job not found``: no such job, or another user's."""


class UploadTooLarge(APIError):
    """413: the upload is over the server's size limit."""


class ValidationError(APIError):
    """422: a field or header the server refused (``detail`` names it)."""


class IdempotencyKeyReused(ValidationError):
    """422: this Idempotency-Key was already used for a different upload or fields."""


class RateLimited(APIError):
    """429: over the rate limit, the unfinished-job cap or the queue cap.

    ``retry_after`` is the server's ``Retry-After`` in seconds (None when it sent none).
    """

    def __init__(
        self,
        status_code: int,
        detail: Any,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(status_code, detail, response)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: a fault on the server's side (or a proxy in front of it)."""


class JobFailed(ImagetuneClientError):
    """The job ended ``Failed``; ``job.error`` (also ``error``) says why."""

    def __init__(self, job: Job):
        self.job = job
        self.error = job.error
        super().__init__(f"job {job.job_id} failed: {job.error}")


class WaitTimeout(ImagetuneClientError):
    """``wait`` gave up: the job was still Pending after ``timeout`` seconds."""

    def __init__(self, job: Job, timeout: float):
        self.job = job
        self.timeout = timeout
        super().__init__(
            f"job {job.job_id} still {job.status} after {timeout:g} s ({job.progress}% done)"
        )


def detail_text(detail: Any) -> str:
    """A person-readable line from a ``detail`` (a string, or FastAPI's list of errors)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime, timezone

    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_for(response: httpx.Response) -> APIError:
    """The exception for a non-2xx ``response``."""
    status = response.status_code
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text or response.reason_phrase
    text = detail if isinstance(detail, str) else ""
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(status, detail, response, retry_after)
    kind: type[APIError]
    if status == 400:
        kind = InvalidImage if text.startswith("Invalid image file") else BadRequest
    elif status == 401:
        kind = AuthenticationError
    elif status == 403:
        kind = LinkExpired
    elif status == 404:
        kind = {"Not Found User": UserNotFound, "Job not found": JobNotFound}.get(text, NotFound)
    elif status == 413:
        kind = UploadTooLarge
    elif status == 422:
        kind = IdempotencyKeyReused if text.startswith("Idempotency-Key") else ValidationError
    elif status >= 500:
        kind = ServerError
    else:
        kind = APIError
    return kind(status, detail, response)
