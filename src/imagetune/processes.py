"""Per-process set-up for workers and inspectors: a name, and a memory ceiling."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import resource

PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    """Name this process, so `ps`, `top` and the tests can tell workers and inspectors
    apart. Sets the kernel's name for this process (/proc/PID/comm, 15 bytes); Linux only."""
    path = ctypes.util.find_library("c")
    if path is None:
        return
    # Not Linux (no prctl): keep the interpreter's name.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(path).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def limit_address_space(megabytes: int) -> None:
    """Cap this process's address space (0: no cap): past it allocations fail, so a
    pathological image costs this process, not the machine."""
    if megabytes:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
