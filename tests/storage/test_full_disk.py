"""The data directory on a small file system of the test's own, filled to the last byte:
submissions answer 503, readiness says "storage", the accepted job waits and succeeds once
space is freed, and the SQLite database is intact afterwards. Needs root (a tmpfs mount)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagetune.errors import ServiceUnavailable
from tests.conftest import ClientFactory
from tests.databases import service_missing
from tests.inprocess import InProcessService
from tests.support import make_image

SIZE_MB = 8


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        service_missing("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        service_missing(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """A file that takes every byte left (down to the last one)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        chunk = 1 << 20
        while chunk:
            try:
                f.write(b"\0" * chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    return filler


@pytest.mark.slow
def test_a_full_data_directory(
    small_disk: Path,
    tmp_path: Path,
    client_factory: ClientFactory,
    capfd: pytest.CaptureFixture[str],
) -> None:
    gate = tmp_path / "gate"
    service = InProcessService(
        small_disk / "data",
        processor=f"gate:{gate}",
        IMAGETUNE_STORAGE_MIN_FREE_MB="0",
        IMAGETUNE_WORKER_POLL_INTERVAL="0.05",
    ).start()
    try:
        client = client_factory(service)
        accepted = client.submit(make_image((64, 48)), "1K").json()["job_id"]
        client.wait_started(accepted)
        filler = fill(small_disk)

        refused = client.submit(make_image((64, 48)), "1K")
        assert (refused.status_code, refused.json()) == (503, {"detail": ServiceUnavailable.detail})
        assert "Retry-After" in refused.headers
        ready = service.http.get("/readyz")
        assert ready.status_code == 503
        assert "storage" in ready.json()["problems"]

        # The accepted job's result cannot be stored, nor its hand-back recorded: its
        # worker keeps trying (its log, on this process's stderr, says so) and the job waits.
        gate.touch()
        deadline, said = time.monotonic() + 30, ""
        while "cannot record a job's outcome" not in said:
            assert time.monotonic() < deadline, "the worker never met the full disk"
            time.sleep(0.1)
            said += capfd.readouterr().err
        assert client.job(accepted).json()["status"] == "Pending"

        filler.unlink()
        assert client.wait(accepted, timeout=60)["status"] == "Succeed"
        assert service.http.get("/readyz").status_code == 200
        assert client.upscale(make_image((64, 48)), "1K")["status"] == "Succeed"
    finally:
        (small_disk / "filler").unlink(missing_ok=True)  # so a failure stops cleanly
        service.stop()
    with sqlite3.connect(small_disk / "data" / "imagetune.db") as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
