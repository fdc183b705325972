"""Status polls against /healthz on the same process, and submission latency, with the
workers idle and with every worker busy on 4K jobs.

Run from the repository root (needs `wrk`: `apt-get install wrk` on Debian):

    .venv/bin/python bench/service.py [--seconds 5] [--connections 16] [--submissions 200]
    .venv/bin/python bench/service.py --compare /path/to/other/checkout/src   # before/after
    .venv/bin/python bench/service.py --smoke                                 # a tiny run

(--smoke: 1-second wrk runs, 5 submissions, one worker, a 96x64 original for the 4K job.)

For each variant (this checkout, and each --compare source tree, whose `imagetune serve`
runs with that tree first on PYTHONPATH), it starts `imagetune serve` (default worker
count, real engine) on a free port with a temporary data directory, then:

1. workers idle: `wrk` on GET /healthz and on GET /public/v1/job/{id} of a succeeded
   job (authentication, the read, URL signing), alternately, twice each; then a 4K job
   from a 600x400 PNG submitted twice, each timed until Succeed (the repeat reuses the
   first one's result where result reuse exists);
2. every worker busy with 4K jobs: a ~1 MB PNG submitted N times one after another
   (p50/p99), then `wrk` on /healthz and on GET /public/v1/job/{id} of a queued job.

The figure that matters is the poll-to-healthz ratio: both run on the same process in
the same minute, so the machine's noise mostly cancels. `wrk` is a C client using
little CPU; the client still shares the machine's cores with the server, so the
absolute figures are a floor for the server.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, accounts_for, make_image


def one_megabyte_png() -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (577, 577, 3), dtype=np.uint8)  # noise: incompressible
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def numbered(png: bytes, n: int) -> bytes:
    """``png`` with a tEXt chunk holding ``n``: the same image, different bytes, so that
    result reuse never answers a timed submission."""
    body = b"bench\x00" + str(n).encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    return png[:-12] + chunk + png[-12:]  # before IEND


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int

    def __add__(self, other: WrkResult) -> WrkResult:
        """The mean of two runs (errors summed)."""
        return WrkResult(
            (self.requests_per_second + other.requests_per_second) / 2,
            (self.p50_ms + other.p50_ms) / 2,
            (self.p99_ms + other.p99_ms) / 2,
            self.errors + other.errors,
        )


def _ms(text: str) -> float:
    # wrk's units: us, ms, s, and m or h for latencies of a minute or more.
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def wrk(url: str, seconds: int, connections: int, key: str | None = None) -> WrkResult:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if key:
        command[1:1] = ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # The latency distribution's own lines ("     99%   12.34ms"), anchored: a thread-stats
    # line ending in "87.99%" must not be read as the 99th percentile.
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)$", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(rps, p50, p99, count)


def side_by_side(
    base: str, path: str, key: str, seconds: int, connections: int
) -> tuple[WrkResult, WrkResult]:
    """/healthz and ``path``, alternately, twice each (so drift hits both alike)."""
    health = wrk(f"{base}/healthz", seconds, connections)
    poll = wrk(f"{base}{path}", seconds, connections, key)
    poll += wrk(f"{base}{path}", seconds, connections, key)
    health += wrk(f"{base}/healthz", seconds, connections)
    return health, poll


@dataclass
class Figures:
    idle_health: WrkResult
    idle_poll: WrkResult
    busy_health: WrkResult
    busy_poll: WrkResult
    submit_p50_ms: float
    submit_p99_ms: float
    submissions: int
    workers: int
    first_4k: float
    repeat_4k: float
    photo: tuple[int, int]


def started(client: httpx.Client, job_id: str) -> bool:
    return client.get(f"/public/v1/job/{job_id}").json()["started_at"] is not None


def until_done(client: httpx.Client, job_id: str) -> float:
    """Seconds from now until the job has succeeded (polled every 10 ms)."""
    started = time.perf_counter()
    while (status := client.get(f"/public/v1/job/{job_id}").json()["status"]) == "Pending":
        time.sleep(0.01)
    assert status == "Succeed", status
    return time.perf_counter() - started


def measure(source: str | None, args: argparse.Namespace) -> Figures:
    env = {
        "IMAGETUNE_LOG_LEVEL": "warning",
        "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
        "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
    }
    if source:
        env["PYTHONPATH"] = source
    if args.smoke:  # one worker busy, not every CPU: the smoke runs beside the test suite
        env["IMAGETUNE_WORKERS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", env=env)
        server.start()
        try:
            workers = httpx.get(f"{server.base_url}/readyz").json()["workers_expected"]
            accounts = accounts_for(server.data_dir)
            accounts.create_user("bench")
            key = accounts.create_key("bench").key
            client = httpx.Client(
                base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            )

            def submit(image: bytes, scale: str) -> tuple[float, str]:
                start = time.perf_counter()
                response = client.post(
                    "/public/v1/image-tune/upscale",
                    files={"image": ("bench.png", image, "image/png")},
                    data={"scale": scale},
                )
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text
                return elapsed, response.json()["job_id"]

            done = submit(make_image((64, 48)), "1K")[1]
            while client.get(f"/public/v1/job/{done}").json()["status"] == "Pending":
                time.sleep(0.1)
            idle_health, idle_poll = side_by_side(
                server.base_url, f"/public/v1/job/{done}", key, args.seconds, args.connections
            )

            photo_size = (96, 64) if args.smoke else (600, 400)
            photo = make_image(photo_size, seed=3)
            first_4k = until_done(client, submit(photo, "4K")[1])
            repeat_4k = until_done(client, submit(photo, "4K")[1])

            image = one_megabyte_png()
            busy = [submit(numbered(image, -n), "4K")[1] for n in range(1, workers * 2 + 1)]
            deadline = time.monotonic() + 60
            while sum(started(client, job) for job in busy) < workers:
                assert time.monotonic() < deadline, "workers never got busy"
                time.sleep(0.05)
            timed = [submit(numbered(image, n), "4K") for n in range(args.submissions)]
            latencies = [t * 1000 for t, _ in timed]
            queued = timed[-1][1]
            busy_health, busy_poll = side_by_side(
                server.base_url, f"/public/v1/job/{queued}", key, args.seconds, args.connections
            )
            # The last job still waiting: the workers had work the whole time.
            left = client.get(f"/public/v1/job/{queued}").json()
            assert left["started_at"] is None, "the workers ran out of 4K jobs while measured"
            client.close()
        finally:
            server.kill()
    return Figures(
        idle_health,
        idle_poll,
        busy_health,
        busy_poll,
        statistics.median(latencies),
        percentile(latencies, 99),
        len(latencies),
        workers,
        first_4k,
        repeat_4k,
        photo_size,
    )


def report(name: str, figures: Figures, connections: int) -> None:
    def row(label: str, health: WrkResult, poll: WrkResult) -> None:
        print(
            f"| {name} | {label} | {health.requests_per_second:,.0f} | "
            f"{poll.requests_per_second:,.0f} | "
            f"**{poll.requests_per_second / health.requests_per_second:.2f}** | "
            f"{poll.p50_ms:.1f} ms | {poll.p99_ms:.1f} ms | {health.p99_ms:.1f} ms | "
            f"{health.errors + poll.errors} |"
        )

    row("workers idle, succeeded job", figures.idle_health, figures.idle_poll)
    row(f"{figures.workers} worker(s) busy, queued job", figures.busy_health, figures.busy_poll)
    print(
        f"| {name} | submissions (1 MB PNG, 4K, workers busy, {figures.submissions} in a row) "
        f"| | | | {figures.submit_p50_ms:.1f} ms | {figures.submit_p99_ms:.1f} ms | | |"
    )
    print(
        f"| {name} | 4K job from a {figures.photo[0]}x{figures.photo[1]} PNG, submitted twice: "
        "until Succeed "
        f"| | | | first {figures.first_4k:.2f} s | repeat {figures.repeat_4k:.3f} s "
        f"({figures.repeat_4k / figures.first_4k:.3f}x) | | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5, help="each wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="SRC",
        help="another checkout's src/ directory to measure in the same run",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run (checks the bench)")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.submissions = 1, 5
    if shutil.which("wrk") is None:
        sys.exit("bench/service.py needs wrk: apt-get install -y wrk (Debian's package)")
    variants: list[tuple[str, str | None]] = [("this checkout", None)]
    variants += [(source, str(Path(source).resolve())) for source in args.compare]
    results = [(name, measure(source, args)) for name, source in variants]
    print("command: " + shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {os.cpu_count()} CPUs; wrk -t2 -c{args.connections} -d{args.seconds}s")
    print(
        "| server | load | healthz req/s | poll req/s | poll/healthz | p50 | p99 "
        "| healthz p99 | errors |\n|---|---|---|---|---|---|---|---|---|"
    )
    for name, figures in results:
        report(name, figures, args.connections)


if __name__ == "__main__":
    main()
