"""The directory where every process of one host keeps its metric values.

prometheus-client's multiprocess mode keeps each process's values in memory-mapped files
under ``PROMETHEUS_MULTIPROC_DIR``; the process that serves /metrics sums them. The
directory is private to a host process tree: the host makes a fresh, empty one at start
(so nothing of an earlier run is counted), sets the variable before it starts its worker
processes (which are given its environment: imagetune.processes), and removes it when it
exits; at start it also removes the directories of hosts that died without cleaning up
(kill -9). The variable is the library's own mechanism, set here, never read from the
user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "imagetune-metrics-"
SHARED_MEMORY = Path("/dev/shm")


def base_directory() -> Path:
    """Where host directories are made: shared memory where there is one. The values
    are memory-mapped files written on every request; on a disk file system their dirty
    pages made each SQLite commit's fsync wait (submissions measured 36% slower on ext4,
    unchanged on tmpfs: bench/metrics_overhead.py)."""
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK):
        return SHARED_MEMORY
    return Path(tempfile.gettempdir())


_directory: Path | None = None


def use_private_directory() -> Path:
    """This host's metrics directory, created (empty) on first use in this process."""
    global _directory
    if _directory is None or not _directory.is_dir():
        _remove_orphans()
        _directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base_directory()))
        atexit.register(shutil.rmtree, _directory, ignore_errors=True)
    if os.environ.get(ENV) != str(_directory):
        os.environ[ENV] = str(_directory)
        # The library picks its value class when first imported; a process that imported
        # it before this point (a test runner, say) would keep values in memory.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        from imagetune.metrics import instruments

        instruments.reset()
    return _directory


_holders = 0


@contextmanager
def held() -> Iterator[Path]:
    """This host's directory while a host runs in this process; removed when the last one
    stops cleanly, after its workers exited (atexit is not enough: a server stopped by a
    signal does not run it). Several hosts in one process (tests) share it."""
    global _directory, _holders
    path = use_private_directory()
    _holders += 1
    try:
        yield path
    finally:
        _holders -= 1
        if _holders == 0 and _directory is not None:
            shutil.rmtree(_directory, ignore_errors=True)
            _directory = None


def _remove_orphans() -> None:
    """Directories left by hosts (on this machine) that are no longer running."""
    for path in base_directory().glob(f"{PREFIX}*-*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True


def directory() -> Path | None:
    """The directory this process writes to (inherited by worker processes), if any."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def process_exited(pid: int) -> None:
    """Drop a dead worker process's live gauges (busy/idle, engine info)."""
    path = directory()
    if path is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
