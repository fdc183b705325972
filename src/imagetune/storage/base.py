"""The storage interface the API and the workers share."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class StorageError(Exception):
    """A key that is malformed or cannot be read or written."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or answer now (I/O error, connection refused, a 5xx
    from an object store): a fault of the infrastructure that may clear by itself."""


class StorageFull(StorageUnavailable):
    """The store has no space (or quota) left for a write."""


TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOMEM})
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def unavailable(error: OSError, action: str) -> StorageUnavailable | None:
    """The StorageUnavailable (or StorageFull) an OSError of the file system means, or
    None where it is not the infrastructure's doing (a missing file, a bug)."""
    if error.errno in FULL_ERRNOS:
        return StorageFull(f"no space left to {action}: {error}")
    if error.errno in TRANSIENT_ERRNOS:
        return StorageUnavailable(f"cannot {action}: {error}")
    return None


def validate_key(key: str) -> str:
    """``key`` if it is a canonical relative path: no traversal, empty or hidden parts."""
    parts = key.split("/")
    if "\\" in key or "\x00" in key or any(p == "" or p.startswith(".") for p in parts):
        raise StorageError(f"invalid storage key: {key!r}")
    return key


class Storage(Protocol):
    """Objects addressed by relative keys such as ``results/<job id>.png``."""

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: readers see all of it or nothing.
        Raises StorageFull or StorageUnavailable for a fault of the store."""

    def read(self, key: str) -> bytes:
        """The bytes under ``key``; raises FileNotFoundError when there are none,
        StorageUnavailable when the store cannot answer."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    def url(self, key: str, expires_in: int) -> str:
        """An absolute URL that fetches ``key`` without credentials for ``expires_in`` s."""

    def trouble(self) -> str | None:
        """What keeps the store from taking writes now, in words for an operator (/readyz);
        None when it can."""

    def written_before(self, prefix: str, before: datetime) -> Iterator[str]:
        """The keys under ``prefix`` (e.g. ``originals/``) last written before ``before``."""
