"""Scale: jobs per minute with 1, 2 and 3 worker processes on the fleet queue.

Run from the repository root (needs the PostgreSQL server the tests use):

    .venv/bin/python bench/scale.py [--jobs 60] [--workers 1,2,3] [--postgres URL] [--embedded]
    .venv/bin/python bench/scale.py --smoke    # seconds: does it still run?

It creates a fresh database, starts `imagetune serve --no-workers` (quotas off, one engine
thread per worker: see SERVER_ENV) and, for each worker count N, `imagetune worker
--concurrency N`. It submits a burst of `classic` 1K jobs (a 256x192 PNG, so each job is
cheap and the queue's own cost shows), waits for all of them, then stops the worker host
with SIGTERM. From the job records (timestamps written by the database's clients) it
reports:

- jobs/min: jobs / (last finish - first submission);
- busy: the share of N workers' time spent inside jobs (processing time / (N x wall));
  close to 100% means workers never wait on the queue, so the queue is not the limit;
- submission->start latency p50/p99 in the burst (includes waiting behind other jobs);
- idle latency: submission->start of jobs sent one at a time to idle workers (the cost of
  delivery itself: LISTEN/NOTIFY wake-up plus the fetch).

--smoke is the same run in miniature (2 jobs per burst, 1 worker, 1 idle job); its
figures mean nothing, it shows the benchmark still works (add --embedded for that queue).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, WorkerHost, accounts_for, make_image

from imagetune.db.engine import normalize_url

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

SERVER_ENV = {
    # One user submits whole bursts at once on purpose: quotas would answer 429.
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
    "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
    "IMAGETUNE_MAX_QUEUE_LENGTH": "0",
    # Every job must run: the bursts repeat the same image, which reuse would answer.
    "IMAGETUNE_RESULT_REUSE": "0",
    # One inference thread per process, so N processes are N workers' worth of CPU.
    "IMAGETUNE_ENGINE_THREADS": "1",
    # The embedded queue's idle latency is its polling period (the README's figures).
    "IMAGETUNE_WORKER_POLL_INTERVAL": "0.2",
    "IMAGETUNE_LOG_LEVEL": "warning",
}

SMOKE = {"jobs": 2, "workers": "1", "idle": 1}


def seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        self.image = make_image((256, 192))

    def submit(self) -> str:
        response = self.http.post(
            "/public/v1/image-tune/upscale",
            files={"image": ("bench.png", self.image, "image/png")},
            data={"scale": "1K", "model": "classic"},
        )
        response.raise_for_status()
        return str(response.json()["job_id"])

    def wait(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.http.get(f"/public/v1/job/{job_id}").json()
            if job["status"] != "Pending":
                if job["status"] != "Succeed":
                    raise RuntimeError(f"job failed: {job}")
                return job
            time.sleep(0.05)
        raise RuntimeError(f"job {job_id} not done in {timeout}s")

    def burst(self, count: int) -> dict[str, float]:
        ids = [self.submit() for _ in range(count)]
        jobs = [self.wait(job_id) for job_id in ids]
        first = min(job["created_at"] for job in jobs)
        last = max(job["finished_at"] for job in jobs)
        wall = seconds(last, first)
        busy = sum(seconds(job["finished_at"], job["started_at"]) for job in jobs)
        waits = [seconds(job["started_at"], job["created_at"]) * 1000 for job in jobs]
        return {
            "wall": wall,
            "jobs_per_min": 60 * count / wall,
            "busy_seconds": busy,
            "job_p50_ms": 1000
            * statistics.median(seconds(job["finished_at"], job["started_at"]) for job in jobs),
            "wait_p50_ms": statistics.median(waits),
            "wait_p99_ms": percentile(waits, 0.99),
        }

    def idle_latency(self, count: int) -> list[float]:
        latencies = []
        for _ in range(count):
            job = self.wait(self.submit())
            latencies.append(seconds(job["started_at"], job["created_at"]) * 1000)
            time.sleep(0.3)  # workers go back to waiting on LISTEN
        return latencies


def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"imagetune_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{admin_url.rpartition('/')[0]}/{name}", name


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def measure(
    kind: str, database_url: str | None, counts: list[int], args: argparse.Namespace
) -> list[tuple[int, dict[str, float], list[float]]]:
    env = dict(SERVER_ENV)
    if database_url:
        env["IMAGETUNE_DATABASE_URL"] = database_url
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        api = ServerProcess(Path(tmp) / "data", env=env, args=("--no-workers",))
        try:
            api.start()
            accounts = accounts_for(api.data_dir, database_url)
            accounts.create_user("bench")
            bench = Bench(api.base_url, accounts.create_key("bench").key)
            for n in counts:
                # One machine: the worker host shares the API's data directory.
                host = WorkerHost(api.data_dir, f"{kind}{n}", env=env, concurrency=n)
                try:
                    host.start()
                    time.sleep(2)  # every process has connected and is waiting
                    bench.burst(min(10, args.jobs))  # warm-up: imports, first connections
                    result = bench.burst(args.jobs)
                    idle = bench.idle_latency(args.idle) if n == counts[0] else []
                    host.stop()
                finally:
                    host.kill()  # only if a failure left it running
                result["busy"] = result.pop("busy_seconds") / (n * result["wall"])
                rows.append((n, result, idle))
        finally:
            api.stop()
    return rows


def report(title: str, rows: list[tuple[int, dict[str, float], list[float]]]) -> None:
    print(f"\n{title}")
    print(
        f"{'workers':>7} {'jobs/min':>9} {'busy':>6} {'job p50':>9} {'wait p50':>9} {'wait p99':>9}"
    )
    for n, r, _ in rows:
        print(
            f"{n:>7} {r['jobs_per_min']:>9.0f} {100 * r['busy']:>5.0f}% "
            f"{r['job_p50_ms']:>7.0f}ms {r['wait_p50_ms']:>7.0f}ms {r['wait_p99_ms']:>7.0f}ms"
        )
    base = rows[0][1]["jobs_per_min"]
    scaling = ", ".join(f"{n}: {r['jobs_per_min'] / base:.2f}x" for n, r, _ in rows)
    print(f"scaling vs {rows[0][0]} worker(s): {scaling}")
    for n, _, idle in rows:
        if idle:
            print(
                f"idle submission->start ({n} worker(s), {len(idle)} jobs one at a time): "
                f"p50 {statistics.median(idle):.0f} ms, max {max(idle):.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="jobs per burst")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to measure")
    parser.add_argument("--idle", type=int, default=10, help="jobs for the idle latency")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL of the server")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="also measure the embedded queue (SQLite) the same way, for comparison",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**SMOKE)  # options given explicitly still win
        args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    url, name = fresh_database(args.postgres)
    try:
        fleet = measure("fleet", url, counts, args)
    finally:
        drop_database(args.postgres, name)
    embedded = measure("embedded", None, counts, args) if args.embedded else []

    per = f"{args.jobs} classic 1K jobs per burst"
    report(f"{per}, fleet queue (PostgreSQL + Procrastinate)", fleet)
    if embedded:
        report(f"{per}, embedded queue (SQLite jobs table)", embedded)
        ratios = ", ".join(
            f"{n}: {f['jobs_per_min'] / e['jobs_per_min']:.2f}x"
            for (n, f, _), (_, e, _) in zip(fleet, embedded, strict=True)
        )
        print(f"\nfleet / embedded jobs/min: {ratios}")
    print("command:", shlex.join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
