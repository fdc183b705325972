"""Domain errors, and the one table of what a client is told when a job fails.

Every error carries a public message (``detail``: what a client sees in a response's
``detail`` or a job's ``error``, written for people and stable) and an internal one
(``internal``: for the log, may hold library or system text). No text from Pillow, ncnn,
SQLAlchemy, boto3 or the operating system is ever a public message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ClassVar

from sqlalchemy import exc as sqlalchemy_errors

from imagetune.engine.errors import (
    AnimationTooLarge,
    CannotAnimate,
    OutOfMemory,
    TimedOut,
    UndecodableImage,
)
from imagetune.storage.base import StorageUnavailable


class ImagetuneError(Exception):
    """Base class: ``status_code`` and ``detail`` are what the API answers."""

    status_code: int = 500
    detail: str = "Internal error"
    reason: str | None = None
    """Why a request was refused, for the rejections metric, where the status is ambiguous."""
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str | None = None, *, internal: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        self.internal = internal or self.detail
        """What the log says: the public message's cause, with any library text."""
        super().__init__(self.detail)

    def response_headers(self) -> dict[str, str] | None:
        return self.headers


class InvalidApiKey(ImagetuneError):
    status_code = 401
    detail = "Invalid API key"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class UserNotFound(ImagetuneError):
    """The key is valid but its user has been deleted."""

    status_code = 404
    detail = "Not Found User"


class JobNotFound(ImagetuneError):
    status_code = 404
    detail = "Job not found"


class InvalidImage(ImagetuneError):
    """The upload cannot be decoded as a supported image (the engine's UndecodableImage,
    as the API answers it: ``invalid_image``)."""

    status_code = 400
    detail = "Invalid image file"

    def __init__(self, reason: str | None = None, *, internal: str | None = None) -> None:
        public = f"Invalid image file: {reason}" if reason else None
        super().__init__(
            public, internal=f"{public or self.detail} ({internal})" if internal else None
        )


def invalid_image(error: UndecodableImage) -> InvalidImage:
    """What a client is told of an image the engine could not decode."""
    return InvalidImage(error.reason, internal=error.internal)


class UploadTooLarge(ImagetuneError):
    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Upload too large: the limit is {limit} bytes")


class OutputTooLarge(ImagetuneError):
    """The request would make a result past a size limit (an animation's frames)."""

    status_code = 413


class TryLater(ImagetuneError):
    """A quota or the queue is full; ``Retry-After`` says when to come back."""

    def __init__(
        self, status: int, detail: str, retry_after: int, *, reason: str, **headers: str
    ) -> None:
        super().__init__(detail)
        self.status_code = status
        self.reason = reason
        self._headers = {"Retry-After": str(max(1, retry_after)), **headers}

    def response_headers(self) -> dict[str, str] | None:
        return self._headers


class FileLinkInvalid(ImagetuneError):
    """A result URL whose signature does not match or whose expiry has passed."""

    status_code = 403
    detail = "Invalid or expired link"


class FileNotFound(ImagetuneError):
    status_code = 404
    detail = "File not found"


class ServiceUnavailable(ImagetuneError):
    """A part the service needs (database, storage, the upload inspectors) cannot be used
    now; the client should come back shortly (the Python client does, by itself)."""

    status_code = 503
    detail = "The service is temporarily unavailable; please retry shortly"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "5"}


def transient(error: BaseException) -> bool:
    """Whether ``error`` is a fault of the infrastructure that may clear by itself, not a
    bug or the request's doing: the database unreachable or its connection lost (SQLite's
    disk full or I/O error included), the storage unreachable or full.

    The one place that says so: the API answers these with 503 (imagetune.api.errors), a
    worker hands its job back to be retried later (imagetune.jobs.worker).
    """
    if isinstance(error, StorageUnavailable | ServiceUnavailable):
        return True
    if isinstance(error, sqlalchemy_errors.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sqlalchemy_errors.OperationalError | sqlalchemy_errors.InterfaceError
        )
    if isinstance(error, sqlalchemy_errors.TimeoutError):  # no pooled connection came
        return True
    # psycopg's own, from Procrastinate's queries; not imported on SQLite, so none raised.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        return True
    procrastinate = sys.modules.get("procrastinate.exceptions")
    if procrastinate is not None and isinstance(error, procrastinate.ConnectorException):
        return error.__cause__ is not None and transient(error.__cause__)
    return False


class AccountError(Exception):
    """A user or key operation that cannot be done (CLI-facing; message says why)."""


# -- why a job failed, in the words a client may show to a person

ORIGINAL_MISSING = "The original image is no longer stored"
ORIGINAL_UNREADABLE = "The original image could not be read (a storage fault); please resubmit"
RESULT_NOT_STORED = "The result could not be stored (a storage fault); please resubmit"
OUT_OF_MEMORY = "Not enough memory to process this image"
PROCESSING_FAILED = "The image could not be processed"


def took_too_long(limit: float) -> str:
    return f"Processing took longer than the {limit:g} s limit"


def interrupted(times: int) -> str:
    return f"Processing was interrupted {times} times (worker lost mid-job); giving up"


def _own_detail(error: BaseException) -> str:
    return error.detail if isinstance(error, ImagetuneError) else PROCESSING_FAILED


def _deadline(error: BaseException) -> str:
    return took_too_long(error.limit) if isinstance(error, TimedOut) else PROCESSING_FAILED


def _undecodable(error: BaseException) -> str:
    if isinstance(error, UndecodableImage):
        return invalid_image(error).detail
    return PROCESSING_FAILED


JOB_FAILURES: tuple[tuple[type[BaseException], Callable[[BaseException], str]], ...] = (
    (ImagetuneError, _own_detail),
    (UndecodableImage, _undecodable),
    (FileNotFoundError, lambda _: ORIGINAL_MISSING),
    (OutOfMemory, lambda _: OUT_OF_MEMORY),
    (MemoryError, lambda _: OUT_OF_MEMORY),
    (TimedOut, _deadline),
    # Refused at upload; a job gets here only if the limits changed since.
    (CannotAnimate, str),
    (AnimationTooLarge, str),
)
"""Exception type -> the job's public ``error``, first match wins. Anything not listed is a
fault of ours, not of the image: the client gets PROCESSING_FAILED, the log the cause."""


def job_failure(error: BaseException) -> str:
    """The public ``error`` of a job that ended with ``error``."""
    for kind, message in JOB_FAILURES:
        if isinstance(error, kind):
            return message(error)
    return PROCESSING_FAILED
