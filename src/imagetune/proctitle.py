"""Naming processes, so `ps`, `top` and the tests can tell workers and inspectors apart."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    """Set the kernel's name for this process (/proc/PID/comm, 15 bytes); Linux only."""
    path = ctypes.util.find_library("c")
    if path is None:
        return
    # Not Linux (no prctl): keep the interpreter's name.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(path).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
