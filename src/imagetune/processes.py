"""The service's child processes, workers and upload inspectors: how they start, and the
per-process set-up they do (a name, a memory ceiling).

They start from multiprocessing's fork server: a fresh interpreter of its own, started by
the first child a process asks for, imports the children's entry modules once (PRELOAD),
and each child is a fork of it. A spawned child would import them again at every start:
about 1.5 CPU-seconds for a worker and 0.4 for an inspector, paid again for every worker
that a job kills and every inspector that a hostile upload ends. Forking the API process
itself is not safe (its threads hold locks); the fork server only imports, and runs no
thread of Python's or ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import multiprocessing
import os
import resource
from collections.abc import Callable, Sequence
from multiprocessing import reduction
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

PR_SET_NAME = 15

CANNOT_START = (OSError, EOFError)
"""What starting a child raises when none can start now (no memory, the process limit):
OSError from a fork here, EOFError when the fork fails in the fork server, which then
exits (the next start begins another)."""

PRELOAD = ("imagetune.api.inspector_process", "imagetune.hosting.worker_process")
"""What the fork server imports before it forks anything (by name: this module is imported
by both). Whatever these import is imported under the fork server's environment, so it
must not read the environment at import (tests/test_start_imports.py checks that the
metrics library, which does, is not among them)."""


def start_child(
    target: Callable[..., None],
    args: tuple[object, ...],
    *,
    name: str,
    own_ends: Sequence[Connection] = (),
) -> BaseProcess:
    """Start a daemon process that runs ``target(*args)``: forked from the fork server,
    but as a spawned child would run (``_AsSpawned``). The pipe ends among ``args`` are
    the child's: this process's copies are closed once it has them. ``own_ends``, this
    process's ends of those pipes, are closed too if the child cannot start
    (``CANNOT_START``, raised)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))  # read when the server starts
    process = context.Process(
        target=_AsSpawned(target, dict(os.environ)), args=args, name=name, daemon=True
    )
    try:
        process.start()
    except CANNOT_START:
        for end in own_ends:
            end.close()
        raise
    finally:
        for handed in args:
            if isinstance(handed, Connection):
                handed.close()
    return process


STANDARD_STREAMS = (1, 2)
"""The descriptors a child writes its output and log to: its parent's, as when spawned."""


class _AsSpawned:
    """Runs a target in the environment, and writing to the standard output and error,
    that its parent has when it starts it, as a spawned child would. A fork server's
    children would otherwise have the server's, which are the parent's when the server
    started: the metrics directory, say, is set later, and a test runner moves the
    standard streams from test to test."""

    def __init__(
        self, target: Callable[..., None], environ: dict[str, str], streams: Sequence[Any] = ()
    ) -> None:
        self.target = target
        self.environ = environ
        self.streams = streams
        """In the child: handles for the parent's descriptors 1 and 2."""

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled as the child starts: the parent's open standard streams travel with it,
        # as its pipes do.
        streams = [reduction.DupFd(fd) if _is_open(fd) else None for fd in STANDARD_STREAMS]
        return (_AsSpawned, (self.target, self.environ, streams))

    def __call__(self, *args: object) -> None:
        os.environ.clear()
        os.environ.update(self.environ)
        for fd, handle in zip(STANDARD_STREAMS, self.streams, strict=False):
            if handle is not None and (received := handle.detach()) != fd:
                os.dup2(received, fd)
                os.close(received)
        self.target(*args)


def _is_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


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
