"""Taking up jobs that a stopped or killed server left unfinished."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagetune.jobs.queue import SqlJobQueue

log = logging.getLogger(__name__)

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


def recover_unfinished(queue: SqlJobQueue) -> None:
    """Re-queue jobs left running by a server that died (the attempt counts)."""
    released = queue.release_all()
    if released.requeued or released.failed:
        log.warning(
            "recovered jobs from an earlier run: %d re-queued, %d failed after too many tries",
            released.requeued,
            released.failed,
        )
