"""The data-directory lock a single-host queue's worker host holds."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "workers.lock"


class DataDirBusy(RuntimeError):
    """Another server already runs workers on this data directory."""


@contextmanager
def worker_lock(data_dir: Path) -> Iterator[None]:
    """Held while a server runs workers on ``data_dir``.

    Recovery re-queues every running job, which is only right when no other live server
    is running them; the lock makes that true. The OS drops it when the process dies.
    """
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise DataDirBusy(
                f"another imagetune server is running workers on {data_dir.resolve()}"
            ) from e
        yield
    finally:
        os.close(fd)
