"""Storage in a local directory, served by the service under signed URLs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from imagetune.clock import Clock, utcnow
from imagetune.signing import UrlSigner
from imagetune.storage.base import unavailable, validate_key

FILES_ROUTE = "/files/"
"""Where the API serves local files (imagetune.api.files); their URLs are signed under it."""


class LocalStorage:
    """Files under ``root``; their URLs point at ``public_url`` + ``route`` + key, the route
    of the API that serves them (imagetune.api.files), signed so they expire."""

    def __init__(
        self,
        root: Path,
        *,
        signer: UrlSigner,
        public_url: str,
        route: str = FILES_ROUTE,
        min_free_bytes: int = 0,
        clock: Clock = utcnow,
    ) -> None:
        self.root = root.resolve()
        self._min_free_bytes = min_free_bytes
        """Below this much free space the store reports trouble (readiness goes 503)."""
        self._clock = clock
        self.root.mkdir(parents=True, exist_ok=True)
        self._signer = signer
        self._public_url = public_url.rstrip("/")
        self._route = route

    def path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def write(self, key: str, data: bytes) -> None:
        try:
            self._write(key, data)
        except OSError as e:
            raise unavailable(e, f"write {key}") or e from e

    def _write(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A hidden temp file in the same directory, then an atomic rename: a reader never
        # sees a partial file, and validate_key keeps hidden names from ever being served.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except OSError as e:
            raise unavailable(e, f"read {key}") or e from e

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def trouble(self) -> str | None:
        if not (self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)):
            return f"{self.root} is not a writable directory"
        try:
            stats = os.statvfs(self.root)
        except OSError as e:
            return f"{self.root} cannot be read: {e.strerror}"
        free = stats.f_bavail * stats.f_frsize
        if free <= self._min_free_bytes:
            return (
                f"{free // 2**20} MiB free in {self.root}, "
                f"below the {self._min_free_bytes // 2**20} MiB minimum"
            )
        return None

    def written_before(self, prefix: str, before: datetime) -> Iterator[str]:
        directory = self.path(prefix.rstrip("/"))
        if not directory.is_dir():
            return
        cutoff = before.timestamp()
        for entry in os.scandir(directory):
            # Hidden names are temp files of writes in progress, never keys.
            hidden = entry.name.startswith(".")
            if not hidden and entry.is_file() and entry.stat().st_mtime < cutoff:
                yield f"{prefix.rstrip('/')}/{entry.name}"

    def url(self, key: str, expires_in: int) -> str:
        key = validate_key(key)
        expires = int(self._clock().timestamp()) + expires_in
        route = self._route + key
        query = urlencode({"expires": expires, "sig": self._signer.sign(route, expires)})
        return f"{self._public_url}{quote(route)}?{query}"

    def verify(self, key: str, expires: int, signature: str) -> bool:
        return self._signer.verify(self._route + key, expires, signature, self._clock().timestamp())
