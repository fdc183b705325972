"""Domain errors. Each carries the HTTP status and the public message clients see."""

from __future__ import annotations

from typing import ClassVar


class ImagetuneError(Exception):
    """Base class: ``status_code`` and ``detail`` are what the API answers."""

    status_code: int = 500
    detail: str = "Internal error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
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
    """The upload cannot be decoded as a supported image."""

    status_code = 400
    detail = "Invalid image file"

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(f"Invalid image file: {reason}" if reason else None)


class UploadTooLarge(ImagetuneError):
    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Upload too large: the limit is {limit} bytes")


class TryLater(ImagetuneError):
    """A quota or the queue is full; ``Retry-After`` says when to come back."""

    def __init__(self, status: int, detail: str, retry_after: int, **headers: str) -> None:
        super().__init__(detail)
        self.status_code = status
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


class AccountError(Exception):
    """A user or key operation that cannot be done (CLI-facing; message says why)."""
