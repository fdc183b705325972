"""Load: N concurrent clients submitting, polling and downloading for a fixed time.

Run from the repository root:

    .venv/bin/python bench/load.py [--clients 16] [--seconds 30] [--model photo]
    .venv/bin/python bench/load.py --url http://host:8000 --key itk_... [...]
    .venv/bin/python bench/load.py --smoke    # a few seconds: does it still run?

Without --url it starts `imagetune serve` on a free port with a temporary data directory
(1 worker with 2 engine threads, quotas on at 60/min, 20 unfinished per user, 1000 in
the queue: see SERVER_ENV) and gives each client a user of its own. Each client loops:
submit a 256x192 PNG at 1K, poll its job every 0.5 s until it finishes, download the
result. Reported per endpoint: requests, throughput, p50 and p99 latency, and counts by
status code (429s are the quotas working, not failures); plus jobs finished per minute.
Any 5xx makes it exit with status 1.

--smoke is the same run in miniature (2 clients for 4 s, model classic); its figures mean
nothing, it shows the benchmark still works.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, accounts_for

SERVER_ENV = {
    # The load is real users, so the quotas stay on, at the values the README's figures
    # were taken with: a new default must not change what is measured.
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "60",
    "IMAGETUNE_MAX_UNFINISHED_PER_USER": "20",
    "IMAGETUNE_MAX_QUEUE_LENGTH": "1000",
    # Each client repeats its image; the load is of jobs that run, not of reused results.
    "IMAGETUNE_RESULT_REUSE": "0",
    # One worker with 2 inference threads (the 2-core default), pinned likewise.
    "IMAGETUNE_WORKERS": "1",
    "IMAGETUNE_ENGINE_THREADS": "2",
    "IMAGETUNE_LOG_LEVEL": "warning",
}

SMOKE = {"clients": 2, "seconds": 4.0, "model": "classic"}


def sample_png() -> bytes:
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 40, (192, 256, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, Counter[int]] = defaultdict(Counter)
        self.jobs_finished = Counter[str]()

    def record(self, endpoint: str, started: float, status: int) -> None:
        self.latency[endpoint].append(time.perf_counter() - started)
        self.codes[endpoint][status] += 1


async def client_loop(
    base: str, key: str, image: bytes, model: str, deadline: float, stats: Stats
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(
                "/public/v1/image-tune/upscale",
                files={"image": ("load.png", image, "image/png")},
                data={"scale": "1K", "model": model},
            )
            stats.record("POST upscale", started, response.status_code)
            if response.status_code != 200:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            job_id = response.json()["job_id"]
            while time.perf_counter() < deadline:
                await asyncio.sleep(0.5)
                started = time.perf_counter()
                polled = await http.get(f"/public/v1/job/{job_id}")
                stats.record("GET job", started, polled.status_code)
                body = polled.json()
                if body["status"] == "Pending":
                    continue
                stats.jobs_finished[body["status"]] += 1
                for url in body["image_urls"]:
                    started = time.perf_counter()
                    download = await http.get(url, headers={"Authorization": ""})
                    stats.record("GET result", started, download.status_code)
                break


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(base: str, keys: list[str], model: str, seconds: float) -> tuple[Stats, float]:
    stats = Stats()
    image = sample_png()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client_loop(base, k, image, model, deadline, stats) for k in keys))
    return stats, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", default="photo")
    parser.add_argument("--url", help="a running service; default: start one")
    parser.add_argument("--key", help="API key for --url (all clients share it)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**SMOKE)  # options given explicitly still win
        args = parser.parse_args()

    server = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.url:
                base, keys = args.url.rstrip("/"), [args.key] * args.clients
            else:
                server = ServerProcess(Path(tmp) / "data", env=SERVER_ENV)
                server.start()
                accounts = accounts_for(server.data_dir)
                keys = []
                for n in range(args.clients):
                    accounts.create_user(f"load{n}")
                    keys.append(accounts.create_key(f"load{n}").key)
                base = server.base_url
            stats, elapsed = asyncio.run(run(base, keys, args.model, args.seconds))
        finally:
            if server:
                server.kill()

    print("command: python bench/load.py " + shlex.join(sys.argv[1:]))
    target = "a running service" if args.url else "a fresh local service"
    print(f"{args.clients} clients for {elapsed:.1f} s against {target}; model {args.model}")
    print(f"{'endpoint':13s} {'requests':>8s} {'req/s':>7s} {'p50':>9s} {'p99':>9s}  codes")
    for endpoint, values in stats.latency.items():
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(stats.codes[endpoint].items()))
        print(
            f"{endpoint:13s} {len(values):8d} {len(values) / elapsed:7.1f} "
            f"{statistics.median(values) * 1000:7.1f}ms {percentile(values, 99) * 1000:7.1f}ms  "
            f"{codes}"
        )
    finished = sum(stats.jobs_finished.values())
    print(f"jobs finished: {dict(stats.jobs_finished)} ({finished / elapsed * 60:.0f} per minute)")
    # Counted from the client's side: the server's access log is off at log level warning.
    errors = sum(n for codes in stats.codes.values() for c, n in codes.items() if c >= 500)
    if errors:
        sys.exit(f"server errors: {errors} responses with a 5xx status")


if __name__ == "__main__":
    main()
