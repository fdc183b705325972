"""The storage interface the API and the workers share."""

from __future__ import annotations

from typing import Protocol


class StorageError(Exception):
    """A key that is malformed or cannot be read or written."""


def validate_key(key: str) -> str:
    """``key`` if it is a canonical relative path: no traversal, empty or hidden parts."""
    parts = key.split("/")
    if "\\" in key or "\x00" in key or any(p == "" or p.startswith(".") for p in parts):
        raise StorageError(f"invalid storage key: {key!r}")
    return key


class Storage(Protocol):
    """Objects addressed by relative keys such as ``results/<job id>.png``."""

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: readers see all of it or nothing."""

    def read(self, key: str) -> bytes:
        """The bytes under ``key``; raises FileNotFoundError when there are none."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    def url(self, key: str, expires_in: int) -> str:
        """An absolute URL that fetches ``key`` without credentials for ``expires_in`` s."""

    def healthy(self) -> bool:
        """Whether the store can be reached and written to now."""
