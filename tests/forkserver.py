"""A fork server for the suite's `imagetune` processes: ``python -m imagetune serve``,
``worker`` and the commands run for their output, without paying for their imports at
every start.

The suite starts about ninety `imagetune serve` and `imagetune worker` processes, and each
spent about 1.8 CPU-seconds to readiness, 1.4 of them importing FastAPI, SQLAlchemy,
pydantic, uvicorn and the package, on two cores shared by four test files. A test run
starts this server once (``python -m tests.forkserver``; the pytest-xdist controller
starts it for its workers, ``share_with_workers``), which imports those modules and
waits; every launch is then a fork of it that runs the command exactly as
``python -m MODULE ARGS`` runs it (``runpy``, as the interpreter's ``-m`` does), in a
session of its own, with the environment, working directory and standard streams it is
given: a log file (``launch``), or pipes whose output the test reads (``capture``, for
``imagetune upscale``, ``status``, ``devices``...). What the command does after its
imports is unchanged: its own settings, its worker and inspector processes (forked from
its own multiprocessing fork server: imagetune.processes, and _fork_children_server
below), signals and exit codes.

The fork server imports modules only, never runs anything, and stays single-threaded (it
checks before each fork). It exits when the pytest process that started it closes its
stdin, or dies.

Only the test session uses it (tests/conftest.py calls ``enable``); the benchmarks, which
share tests.support, start every process from a fresh interpreter, as before: they measure
start-up, and ``--compare`` runs another checkout's code through ``PYTHONPATH``. Their
smoke runs in the suite, whose figures mean nothing, are handed the pytest process's
fork server instead (``shared``). A command whose ``PYTHON*`` variables differ from the
fork server's also starts afresh, since those decide what is imported.
``IMAGETUNE_TEST_FORKSERVER=0`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRELOAD = (
    # What `imagetune serve` and `imagetune worker` import before they are ready (measured
    # with PYTHONPROFILEIMPORTTIME), and the test seam tests.fake_imagetune uses. Not the
    # command line interface (imagetune.cli: Typer and rich, about 50 ms): its consoles,
    # made when it is imported, take their width and colours from the environment then
    # (COLUMNS, NO_COLOR, TERM...), so each command imports it under its own.
    "imagetune.app",
    "imagetune.logs",
    "imagetune.wiring",
    "imagetune.db.migrate",
    "imagetune.hosting.host",
    "imagetune.hosting.lock",
    "imagetune.hosting.metrics",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "multiprocessing.popen_forkserver",
    # What the command's own fork server imports (imagetune.processes.PRELOAD): that
    # server is forked from here too (_fork_children_server).
    "imagetune.api.inspector_process",
    "imagetune.hosting.worker_process",
    "tests.processors",
    "tests.fake_imagetune",
)
UNIMPORTED = ("prometheus_client", "imagetune.metrics")
"""Packages this server imports that the command's own fork server does not
(tests/test_start_imports.py checks), forgotten in the forked one
(_fork_children_server): prometheus-client picks where it keeps values from the
environment when imported, and imagetune.metrics holds on to it."""
CHECKOUT_PACKAGES = ("tests", "bench")
"""Packages found through the checkout's directory on the path (the package itself is
installed): a script run through the fork server does not get them from it."""
_enabled = False
START_TIMEOUT = 60.0
"""Seconds to wait for the fork server to start, or to fork a process."""


def enable() -> None:
    """Launch through the fork server from now on in this process (unless
    ``IMAGETUNE_TEST_FORKSERVER=0``)."""
    global _enabled
    _enabled = os.environ.get("IMAGETUNE_TEST_FORKSERVER", "1") != "0"


class ForkedProcess:
    """A launched command: the parts of ``subprocess.Popen`` the tests use. The process is
    the fork server's child, so its exit status comes from the fork server."""

    def __init__(self, connection: socket.socket, pid: int, args: list[str]) -> None:
        self._connection = connection
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._read(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended, not yet reported
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _read(self, timeout: float | None) -> None:
        self._connection.settimeout(None if timeout is None else max(0.0, timeout))
        try:
            line = _read_line(self._connection)
        except (TimeoutError, BlockingIOError):
            return
        if line is None:  # the fork server died: its children were orphaned with it
            raise RuntimeError(f"the fork server ended before process {self.pid}")
        self.returncode = int(json.loads(line)["returncode"])
        self._connection.close()


@dataclass
class _Server:
    process: subprocess.Popen[bytes] | None
    """None: another process's server, shared with this one."""
    address: str
    log: Path
    imported_under: dict[str, str]
    """Its PYTHON* variables: they decide what its interpreter imported and how."""


_server: _Server | None = None
_lock = threading.Lock()


def launch(
    module: str, args: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> ForkedProcess | subprocess.Popen[bytes]:
    """``python -m MODULE ARGS`` with exactly ``env``, in a session of its own, stdout and
    stderr appended to ``log_path``."""
    command = [sys.executable, "-m", module, *args]
    server = _server_for(env)
    with log_path.open("ab") as log:
        if server is None:
            return subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return _fork(server, ["-m", module, *args], env, cwd, [log.fileno()])


def capture(
    argv: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` (``-m MODULE ARGS``, or ``SCRIPT ARGS``) with exactly ``env``, run to
    its end: its output and its errors captured apart, as ``subprocess.run(...,
    capture_output=True, text=True)`` gives them. Raises subprocess.TimeoutExpired after
    ``timeout`` seconds, the command killed."""
    command = [sys.executable, *argv]
    server = _server_for(env)
    if server is None:
        return subprocess.run(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        streams = [stdin, out_write, err_write]
        process = _fork(server, argv, env, cwd or Path.cwd(), streams)
    except BaseException:
        os.close(out_read)
        os.close(err_read)
        raise
    finally:
        for fd in (stdin, out_write, err_write):
            os.close(fd)
    try:
        out, err = _read_to_end([out_read, err_read], deadline)
        returncode = process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise subprocess.TimeoutExpired(command, timeout) from None
    return subprocess.CompletedProcess(command, returncode, _text(out), _text(err))


def _read_to_end(fds: list[int], deadline: float) -> list[bytes]:
    """Everything written to the pipes ``fds`` until every writer has closed them; closes
    them. Raises subprocess.TimeoutExpired at ``deadline``."""
    data = {fd: bytearray() for fd in fds}
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired([], 0)
                for key, _ in selector.select(left):
                    if chunk := os.read(key.fd, 1 << 16):
                        data[key.fd] += chunk
                    else:
                        selector.unregister(key.fd)
        finally:
            for fd in fds:
                os.close(fd)
    return [bytes(data[fd]) for fd in fds]


def _text(data: bytes) -> str:
    """As ``subprocess.run(..., text=True)`` decodes: the locale's encoding, universal
    newlines."""
    return io.TextIOWrapper(io.BytesIO(data)).read()


def _server_for(env: dict[str, str]) -> _Server | None:
    """The fork server to launch a command with ``env`` through, or None to start it as a
    fresh interpreter: when the server is off, or the command's PYTHON* variables are not
    those the server's modules were imported under."""
    server = _running_server() if _enabled else _shared_server()
    if server is None or _import_variables(env) != server.imported_under:
        return None
    return server


def _fork(
    server: _Server, argv: list[str], env: dict[str, str], cwd: Path, fds: list[int]
) -> ForkedProcess:
    """Ask the fork server for ``python ARGV``, with ``fds`` (one for its output and
    errors, or three for its input, output and errors) as its standard streams."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(START_TIMEOUT)
    connection.connect(server.address)
    request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)})
    socket.send_fds(connection, [request.encode() + b"\n"], fds)
    line = _read_line(connection)
    if line is None:
        raise RuntimeError(f"the fork server started no process; its log: {server.log}")
    return ForkedProcess(connection, int(json.loads(line)["pid"]), [sys.executable, *argv])


def _running_server() -> _Server:
    global _server
    with _lock:
        if _server is None and (shared_server := _shared_server()) is not None:
            _server = shared_server  # the xdist controller's (share_with_workers)
        elif _server is None or (_server.process and _server.process.poll() is not None):
            _server = _start_server()
        return _server


def share_with_workers() -> None:
    """In the pytest-xdist controller: start the fork server now, for the workers it is
    about to start (they inherit this environment), rather than one in each: each costs
    about 2 CPU-seconds of imports."""
    if _enabled:
        os.environ.update(shared())


SHARED = "IMAGETUNE_TEST_FORKSERVER_SHARED"
"""Where a process the suite starts finds the suite's fork server (JSON)."""


def shared() -> dict[str, str]:
    """The environment that hands this process's fork server to a process it starts that
    launches commands of its own (a benchmark's smoke run); empty when it is off."""
    if not _enabled:
        return {}
    server = _running_server()
    described = {"address": server.address, "log": str(server.log)}
    return {SHARED: json.dumps({**described, "imported_under": server.imported_under})}


def _shared_server() -> _Server | None:
    """The fork server this process was handed (``shared``), if any."""
    if (value := os.environ.get(SHARED)) is None:
        return None
    given = json.loads(value)
    return _Server(None, given["address"], Path(given["log"]), given["imported_under"])


def _server_environment() -> dict[str, str]:
    """The environment the fork server's modules are imported under (each command gets its
    own). OpenBLAS (numpy's) would start a thread pool at import, and a fork copies no
    thread: one thread, then. Neither the commands nor their workers and inspectors (forks
    of this server too: _fork_children_server) use BLAS: inference is ncnn's, resizing
    Pillow's."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def _import_variables(env: dict[str, str]) -> dict[str, str]:
    """The variables that decide what the interpreter imports, and how: PYTHON*."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def _start_server() -> _Server:
    directory = Path(tempfile.mkdtemp(prefix="imagetune-forkserver-"))
    address = str(directory / "socket")
    log = directory / "log"
    env = _server_environment()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver", address],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C stops the tests, which then stop their servers
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not os.path.exists(address):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the fork server did not start:\n{log.read_text()}")
        time.sleep(0.02)
    atexit.register(_stop_server, process, directory, os.getpid())
    return _Server(process, address, log, _import_variables(env))


def _stop_server(process: subprocess.Popen[bytes], directory: Path, owner: int) -> None:
    if os.getpid() != owner:  # a fork of the pytest process exiting: not its server
        return
    if process.stdin is not None:
        process.stdin.close()  # it exits at end of input
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(directory, ignore_errors=True)


def _read_line(connection: socket.socket) -> bytes | None:
    """One newline-ended message, read a byte at a time (messages are short and rare);
    None at end of stream."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(1)
        if not chunk:
            return None
        data += chunk
        connection.settimeout(None)  # a message begun is read to its end
    return data


# The fork server itself.


def serve(address: str) -> tuple[dict[str, Any], socket.socket]:
    """Accept launch requests until stdin closes. Returns in each forked child, with the
    request it is to run and its connection; never returns in the fork server."""
    for name in PRELOAD:
        importlib.import_module(name)
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wakeup_write)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".new")
    listener.listen(64)
    os.rename(address + ".new", address)  # the address exists once it is listening
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wakeup_read, selectors.EVENT_READ, "child")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    children: dict[int, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "stdin" and not os.read(sys.stdin.fileno(), 4096):
                sys.exit(0)
            if key.data == "child":
                os.read(wakeup_read, 4096)
                _reap(children)
            if key.data != "accept":
                continue
            connection, _ = listener.accept()
            request: dict[str, Any] = {"fds": []}
            try:
                request = _receive(connection)
                threads = len(os.listdir("/proc/self/task"))
                if threads != 1:
                    raise RuntimeError(f"{threads} threads here: a fork would be unsafe")
                pid = os.fork()
            except Exception:
                traceback.print_exc()
                for fd in request["fds"]:
                    os.close(fd)
                connection.close()  # the test's launch says the process did not start
                continue
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                selector.close()
                for open_socket in (listener, *children.values()):
                    open_socket.close()
                for fd in (wakeup_read, wakeup_write):
                    os.close(fd)
                return request, connection
            for fd in request["fds"]:
                os.close(fd)
            children[pid] = connection
            _reap(children)


def _receive(connection: socket.socket) -> dict[str, Any]:
    """A request: one line of JSON, with the descriptors of the command's output and errors
    (one, a log file) or of its input, output and errors (three)."""
    connection.settimeout(10)
    data = b""
    received: list[int] = []
    try:
        while not data.endswith(b"\n"):
            message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            received += fds
            if not message:
                raise ConnectionError("the request ended early")
            data += message
        if len(received) not in (1, 3):
            raise ConnectionError(f"{len(received)} descriptors came with the request")
        request: dict[str, Any] = json.loads(data)
    except BaseException:
        for fd in received:
            os.close(fd)
        raise
    connection.settimeout(None)
    request["fds"] = received
    return request


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            with connection:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):  # the test that launched it is gone
                    connection.sendall(json.dumps({"returncode": code}).encode() + b"\n")


def run(request: dict[str, Any], connection: socket.socket) -> None:
    """In the forked child: become ``python -m MODULE ARGS`` or ``python SCRIPT ARGS``."""
    import runpy

    os.setsid()
    # Its pid goes back once it leads its own session: a test may kill the group at once.
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    connection.close()
    fds = request["fds"]
    if len(fds) == 1:  # a log file for both
        fds = [os.open(os.devnull, os.O_RDONLY), fds[0], fds[0]]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv = request["argv"]
    if argv[0] == "-m":
        module, args = argv[1], argv[2:]
        if args[:1] in (["serve"], ["worker"]):
            _fork_children_server()
        sys.argv = ["-m", *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    # A script (a benchmark's): its directory, not the checkout, leads the path, as the
    # interpreter puts it, and the checkout's packages are imported afresh, so a script
    # that does not put the checkout on its path fails here as it would by hand.
    sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
    _forget(CHECKOUT_PACKAGES)
    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")


def _forget(packages: tuple[str, ...]) -> None:
    """Drop ``packages`` and the modules in them from this process's imports: the next
    import of one imports it afresh."""
    for name in [m for m in sys.modules if any(f"{m}.".startswith(f"{p}.") for p in packages)]:
        del sys.modules[name]


def _fork_children_server() -> None:
    """Start the command's multiprocessing fork server, which its workers and inspectors
    are forked from (imagetune.processes), as a fork of this process rather than a fresh
    interpreter: that interpreter's imports cost about a CPU-second at every start of a
    server, ninety times in the suite. This process has imported all it would import and
    is still single-threaded, so forking here is safe, where the command itself, once
    its threads run, could not fork. The server's code (multiprocessing.forkserver.main)
    and what it is handed are unchanged, and the command finds it running and uses it;
    its resource tracker is forked too. What the command's fork server would not have
    imported and reads the environment when imported (UNIMPORTED) is forgotten, so that
    its children import it afresh under the environment they are given. tests/
    test_processes.py starts the fork server as the service does, from a fresh
    interpreter."""
    import multiprocessing
    from multiprocessing import forkserver, util

    from imagetune import processes

    def fork_instead(path: str, args: list[str], passfds: list[int]) -> int:
        # ``args`` is ``[python, flags..., "-c", code]``: run ``code`` in a fork instead.
        pid = os.fork()
        if pid:
            return pid
        code = 0
        try:
            keep = {0, 1, 2, *map(int, passfds)}
            for fd in map(int, os.listdir("/proc/self/fd")):
                if fd not in keep:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            _forget(UNIMPORTED)
            sys.argv = ["-c"]
            exec(args[-1], {"__name__": "__main__"})
        except SystemExit as e:  # as the interpreter maps it to an exit status
            code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(processes.PRELOAD))
    spawn = util.spawnv_passfds
    util.spawnv_passfds = fork_instead
    try:
        forkserver.ensure_running()
    finally:
        util.spawnv_passfds = spawn


if __name__ == "__main__":
    # In a child, the interpreter then ends as after `python -m MODULE`: an uncaught
    # exception, KeyboardInterrupt included, and exit handlers are handled as usual.
    run(*serve(sys.argv[1]))
