"""Test helpers: a real imagetune server in a subprocess, images, polling."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from imagetune.accounts import Accounts
from imagetune.db.database import open_database
from imagetune.hosting.worker_process import WORKER_PROCESS_NAME
from tests import forkserver

START_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parent.parent
Launched = forkserver.ForkedProcess | subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_imagetune(
    args: list[str], env: dict[str, str], timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """``python -m imagetune ARGS`` with exactly ``env``, run to its end as a user runs it
    from a shell with no terminal: output and errors captured apart (as
    ``subprocess.run(..., capture_output=True, text=True)``), no input. In the test
    session a fork of tests.forkserver, which has not imported the command line interface:
    the command imports it under ``env`` (COLUMNS sets the width of its tables)."""
    return forkserver.capture(["-m", "imagetune", *args], env, timeout)


def launch(
    args: list[str], env: dict[str, str], log_path: Path, processor: str | None = None
) -> Launched:
    """``imagetune ARGS`` in a session of its own (so a kill can take its whole process
    group), logging at info to ``log_path``.

    With ``processor`` (a tests.processors spec such as ``sleep:5``), the same command runs
    through tests.fake_imagetune, its workers' processor swapped for one that takes a
    chosen time; without, it is imagetune exactly as users run it, real engine included.
    In the test session either starts as a fork of tests.forkserver, which has imported
    the command's modules once for the whole pytest process (the benchmarks start it afresh).
    """
    module = "imagetune" if processor is None else "tests.fake_imagetune"
    extra = {} if processor is None else {"IMAGETUNE_TEST_PROCESSOR": processor}
    return forkserver.launch(
        module,
        args,
        # One inference thread per worker: tests run side by side on few cores, where
        # ncnn's threads would spin waiting for each other. The CPU unless a test says:
        # probing Vulkan devices at every start costs seconds where a software driver is
        # installed (device choice has its own tests, tests/engine/test_devices.py).
        {
            **os.environ,
            "IMAGETUNE_LOG_LEVEL": "info",
            "IMAGETUNE_ENGINE_THREADS": "1",
            "IMAGETUNE_ENGINE_DEVICE": "cpu",
            **extra,
            **env,
        },
        ROOT,
        log_path,
    )


@dataclass
class ServerProcess:
    """``imagetune serve`` run as a user runs it (``python -m imagetune serve``, in the
    test session forked from tests.forkserver), on a free loopback port."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    processor: str | None = None
    """A tests.processors spec for the workers; None: the real engine."""
    process: Launched | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    @functools.cached_property
    def http(self) -> httpx.Client:
        """A client without credentials, for probes and result URLs: one per server, since
        making an httpx client (its TLS context) costs about 40 ms of CPU, and readiness
        is probed ten times a second while a server starts."""
        return self.client_for(None)

    def client_for(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def start(self) -> ServerProcess:
        self.process = launch(
            ["serve", "--port", str(self.port), *self.args],
            {"IMAGETUNE_DATA_DIR": str(self.data_dir), "IMAGETUNE_SHUTDOWN_GRACE": "2", **self.env},
            self.log_path,
            self.processor,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            try:
                if self.http.get("/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {START_TIMEOUT}s:\n{self.log()}")

    def assert_no_server_errors(self) -> None:
        """No request this server answered got a 5xx (uvicorn's access log says)."""
        lines = [
            line
            for line in self.log().splitlines()
            if 'HTTP/1.1" 5' in line or '"status": 5' in line  # text or JSON access lines
        ]
        assert not lines, "server errors:\n" + "\n".join(lines)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """A clean stop, as Ctrl+C or a service manager's SIGTERM would do."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None
        self._drop_http()

    def kill(self) -> None:
        """kill -9 of the server and every process it started."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        self._drop_http()

    def _drop_http(self) -> None:
        """Its connections end with the server; a later ``http`` makes a new client."""
        if (client := self.__dict__.pop("http", None)) is not None:
            client.close()

    def worker_pids(self, expected: int = 1, timeout: float = 10.0) -> list[int]:
        """PIDs of the worker processes, once ``expected`` of them have started."""
        deadline = time.monotonic() + timeout
        while len(pids := self._worker_pids()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def _worker_pids(self) -> list[int]:
        assert self.process is not None
        # Workers are children of the server's fork server (imagetune.processes), which
        # is the server's child.
        pids = [p for child in _children(self.process.pid) for p in _children(child)]
        return [p for p in pids if _process_name(p) == WORKER_PROCESS_NAME]


@dataclass
class WorkerHost:
    """``imagetune worker`` run as an operator runs it on a worker machine."""

    data_dir: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)
    concurrency: int = 1
    processor: str | None = None
    process: Launched | None = None
    metrics_port: int = field(default_factory=free_port)
    """Its /metrics port (several hosts share this machine in tests)."""

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"worker-{self.name}.log"

    def start(self) -> WorkerHost:
        self.process = launch(
            ["worker", "--concurrency", str(self.concurrency)],
            {
                "IMAGETUNE_DATA_DIR": str(self.data_dir),
                "IMAGETUNE_WORKER_NAME": self.name,
                "IMAGETUNE_WORKER_METRICS_PORT": str(self.metrics_port),
                **self.env,
            },
            self.log_path,
            self.processor,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while "imagetune worker:" not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log()}")
            assert time.monotonic() < deadline, f"worker not started:\n{self.log()}"
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9 of the host's every process, as when its machine dies."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _children(pid: int) -> list[int]:
    """A process's children, as /proc lists them: per thread (of the thread that started
    each), read for every thread."""
    return [
        int(child)
        for children in Path(f"/proc/{pid}/task").glob("*/children")
        for child in children.read_text().split()
    ]


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def accounts_for(data_dir: Path, database_url: str | None = None) -> Accounts:
    """Accounts in the server's own database (its SQLite file by default), as the CLI
    would open it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = open_database(database_url or f"sqlite:///{data_dir / 'imagetune.db'}")
    return Accounts(database.sessions)


def make_image(
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    fmt: str = "PNG",
    *,
    seed: int = 0,
    **save: Any,
) -> bytes:
    """An encoded picture with smooth gradients and some texture, like a photo."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            255 * x / max(width - 1, 1),
            255 * y / max(height - 1, 1),
            127 + 100 * np.sin((x + y) / 7.0),
        ],
        axis=-1,
    )
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(noisy, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class ApiClient:
    """The public API as a client written against the contract calls it."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def download(self, url: str) -> httpx.Response:
        """A result URL, fetched without credentials, as a browser would."""
        request = self.http.build_request("GET", url)
        request.headers.pop("Authorization", None)
        return self.http.send(request)

    def submit(
        self, image: bytes, scale: str = "1K", filename: str = "image.png"
    ) -> httpx.Response:
        return self.http.post(
            "/public/v1/image-tune/upscale",
            files={"image": (filename, image, "application/octet-stream")},
            data={"scale": scale},
        )

    def job(self, job_id: str) -> httpx.Response:
        return self.http.get(f"/public/v1/job/{job_id}")

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the job leaves Pending; the final job body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.job(job_id)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] != "Pending":
                return body
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still Pending after {timeout}s")

    def wait_started(self, job_id: str, timeout: float = 20.0) -> None:
        """Poll until a worker has picked the job up (it is still Pending)."""
        deadline = time.monotonic() + timeout
        while self.job(job_id).json()["started_at"] is None:
            assert time.monotonic() < deadline, f"job {job_id} never started"
            time.sleep(0.02)

    def upscale(self, image: bytes, scale: str = "1K") -> dict[str, Any]:
        response = self.submit(image, scale)
        assert response.status_code == 200, response.text
        return self.wait(response.json()["job_id"])

    def close(self) -> None:
        self.http.close()


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """``condition()``'s first true value, checked every 50 ms; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not true after {timeout}s: {what}"
        time.sleep(0.05)
    return value
