"""Faults of the infrastructure under a steady load: what clients saw, what became of
their jobs, and how long the service took to recover.

Run from the repository root, as root (the full-disk fault mounts a tmpfs; without root
that fault is left out), with Debian's PostgreSQL binaries (`initdb`, `pg_ctl`):

    .venv/bin/python bench/faults.py [--seconds 6]
    .venv/bin/python bench/faults.py --compare /tmp/faults-before    # before/after
    .venv/bin/python bench/faults.py --smoke                          # a tiny run
    .venv/bin/python bench/faults.py --rate                           # the shared rate
                                                                      # limit's cost

For each variant (this checkout, and each --compare checkout, run from its own root
with its own src/ first on PYTHONPATH) and each fault, `imagetune serve` (one worker
whose jobs take 1 s: tests/processors.py, not the engine) gets one submission every
0.2 s; after two seconds the fault is injected for --seconds, then lifted, and the load
goes on until a submission succeeds again (at most 30 s). Then every accepted job is
waited for (at most 60 s).

- `storage full`: the data directory (SQLite database and files) is a tmpfs of 24 MB,
  filled to its last byte, then freed;
- `database down`: a PostgreSQL cluster of the benchmark's own (initdb in a temporary
  directory, a free port) stopped with `pg_ctl stop -m fast`, then started again.

Columns: submissions sent; answered 2xx/4xx/5xx (503s are counted apart, as the clients
retry them); jobs accepted; lost (still Pending at the end); failed; recovery (seconds
from the fault's end to the first accepted submission).

--rate measures, on the machine's PostgreSQL (IMAGETUNE_TEST_POSTGRES_URL), what one
admitted submission's shared rate-limit UPDATE costs, beside a `SELECT 1` round trip in
the same run (the machine is shared: the ratio is the figure to trust).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.clusters import Cluster  # noqa: E402
from tests.support import free_port, make_image  # noqa: E402

INTERVAL = 0.2
WARM = 2.0
RECOVERY_LIMIT = 30.0
JOB_WAIT = 60.0
JOB_SECONDS = 1.0
"""How long each job takes: long enough for a backlog to be in flight at the fault."""


@dataclass
class Tally:
    sent: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    first_ok_after: float | None = None


class SmallDisk:
    def __init__(self, where: Path, megabytes: int) -> None:
        self.path = where / "disk"
        self.path.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(self.path)],
            check=True,
        )
        self.filler = self.path / "filler"

    def fill(self) -> None:
        with self.filler.open("wb", buffering=0) as f:
            chunk = 1 << 20
            while chunk:
                try:
                    f.write(b"\0" * chunk)
                except OSError:
                    chunk //= 2

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


def serve(variant: Path, data_dir: Path, env: dict[str, str], log: Path) -> tuple[Any, str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_imagetune", "serve"],
            cwd=variant,
            env={
                **os.environ,
                "PYTHONPATH": str(variant / "src"),
                "IMAGETUNE_TEST_PROCESSOR": f"sleep:{JOB_SECONDS}",
                "IMAGETUNE_DATA_DIR": str(data_dir),
                "IMAGETUNE_PORT": str(port),
                "IMAGETUNE_WORKERS": "1",
                "IMAGETUNE_ENGINE_THREADS": "1",
                "IMAGETUNE_ENGINE_DEVICE": "cpu",
                "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
                "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
                "IMAGETUNE_STORAGE_MIN_FREE_MB": "0",
                "IMAGETUNE_PLAYGROUND": "0",
                "IMAGETUNE_METRICS": "0",
                **env,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def make_key(data_dir: Path, database_url: str | None) -> str:
    """A user and key, written into the variant's database (unmigrated: its own schema;
    users and keys are the same in every version compared)."""
    from imagetune.accounts import Accounts
    from imagetune.db.database import open_database

    database = open_database(
        database_url or f"sqlite:///{data_dir / 'imagetune.db'}", migrate=False
    )
    try:
        accounts = Accounts(database.sessions)
        name = f"bench-{uuid.uuid4().hex[:6]}"
        accounts.create_user(name)
        return accounts.create_key(name).key
    finally:
        database.close()


def load(base: str, key: str, stop: threading.Event, tally: Tally, fault_over: list[float]) -> None:
    image = make_image((64, 48))
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            tally.sent += 1
            try:
                response = http.post(
                    "/public/v1/image-tune/upscale",
                    files={"image": ("i.png", image, "image/png")},
                    data={"scale": "1K"},
                    timeout=30,
                )
                code = response.status_code
            except httpx.HTTPError:
                code = 0  # no answer at all
            tally.codes[code] += 1
            if code == 200:
                tally.accepted.append(response.json()["job_id"])
                if fault_over and tally.first_ok_after is None:
                    tally.first_ok_after = time.monotonic() - fault_over[0]
            stop.wait(INTERVAL)


def outcomes(base: str, key: str, job_ids: list[str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + JOB_WAIT
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        for job_id in job_ids:
            while True:
                try:
                    status = http.get(f"/public/v1/job/{job_id}", timeout=10).json()["status"]
                except (httpx.HTTPError, KeyError):
                    status = "Pending"
                if status != "Pending" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            seen[status] += 1
    return seen


def run_fault(variant: Path, fault: str, seconds: float, where: Path) -> list[str]:
    env: dict[str, str] = {}
    disk = cluster = None
    data_dir = where / "data"
    if fault == "storage full":
        disk = SmallDisk(where, 24)
        data_dir = disk.path / "data"
    else:
        cluster = Cluster(where)
        env["IMAGETUNE_DATABASE_URL"] = cluster.url
    process = None
    try:
        process, base = serve(variant, data_dir, env, where / "serve.log")
        key = make_key(data_dir, env.get("IMAGETUNE_DATABASE_URL"))
        tally, stop, fault_over = Tally(), threading.Event(), []
        loader = threading.Thread(target=load, args=(base, key, stop, tally, fault_over))
        loader.start()
        time.sleep(WARM)
        (disk.fill if disk else cluster.stop)()  # type: ignore[union-attr]
        time.sleep(seconds)
        (disk.free if disk else cluster.start)()  # type: ignore[union-attr]
        fault_over.append(time.monotonic())
        deadline = time.monotonic() + RECOVERY_LIMIT
        while tally.first_ok_after is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        loader.join()
        ended = outcomes(base, key, tally.accepted)
        codes = tally.codes
        return [
            variant.name,
            fault,
            str(tally.sent),
            str(sum(n for c, n in codes.items() if 200 <= c < 300)),
            str(sum(n for c, n in codes.items() if 400 <= c < 500)),
            str(codes[503]),
            str(sum(n for c, n in codes.items() if c >= 500 and c != 503) + codes[0]),
            str(len(tally.accepted)),
            str(ended["Pending"]),
            str(ended["Failed"]),
            "-" if tally.first_ok_after is None else f"{tally.first_ok_after:.1f} s",
        ]
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if disk:
            disk.free()
            disk.close()
        if cluster:
            cluster.close()


def rate_cost(rounds: int) -> None:
    from sqlalchemy import text
    from tests.databases import fresh_postgres_database

    from imagetune.accounts import Accounts
    from imagetune.api.quotas import SharedRateLimiter
    from imagetune.db.database import open_database

    with fresh_postgres_database() as url:
        database = open_database(url)
        user = Accounts(database.sessions).create_user("bench").id
        limiter = SharedRateLimiter(10**9, database.engine.url)
        limiter.take(user)

        def ping() -> None:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        figures = {}
        for name, step in (("SELECT 1", ping), ("rate limit", lambda: limiter.take(user))):
            started = time.perf_counter()
            for _ in range(rounds):
                step()
            figures[name] = (time.perf_counter() - started) / rounds * 1000
        limiter.close()
        database.close()
    for name, ms in figures.items():
        print(f"{name:12} {ms:.3f} ms per call ({rounds} calls)")
    print(f"rate limit / SELECT 1: {figures['rate limit'] / figures['SELECT 1']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="How long each fault lasts.")
    parser.add_argument("--compare", action="append", default=[], type=Path)
    parser.add_argument("--smoke", action="store_true", help="One short fault: a quick check.")
    parser.add_argument("--rate", action="store_true", help="The shared rate limit's cost.")
    args = parser.parse_args()
    print("command: python " + shlex.join(["bench/faults.py", *sys.argv[1:]]), flush=True)
    if args.rate:
        rate_cost(200 if args.smoke else 2000)
        return
    faults = ["database down"]
    if os.geteuid() == 0:
        faults.insert(0, "storage full")
    else:
        print("not root: the storage-full fault is left out (it mounts a tmpfs)")
    if args.smoke:
        global JOB_SECONDS
        faults, args.seconds, JOB_SECONDS = faults[:1], 2.0, 0.1
    header = ["variant", "fault", "sent", "2xx", "4xx", "503", "other 5xx/none"]
    header += ["accepted", "lost", "failed", "recovery"]
    rows = [header]
    for variant in [ROOT, *args.compare]:
        for fault in faults:
            with tempfile.TemporaryDirectory(prefix="faults-bench-") as where:
                rows.append(run_fault(variant.resolve(), fault, args.seconds, Path(where)))
                print(" | ".join(rows[-1]), flush=True)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
