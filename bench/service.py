"""Submission latency with every worker busy, and status-poll throughput.

Run from the repository root:

    .venv/bin/python bench/service.py [--submissions 200] [--poll-seconds 10] [--concurrency 8]
    .venv/bin/python bench/service.py --smoke    # a few seconds: does it still run?

It starts `imagetune serve` on a free port with a temporary data directory (1 worker with
2 engine threads, quotas off: see SERVER_ENV), keeps every worker busy with 4K jobs, then:

1. submits a ~1 MB PNG (noise, --side 577 px square) N times, one after another, and
   reports p50/p99 latency (and p50 of the first and last tenth, to show latency does not
   grow with the queue);
2. polls GET /public/v1/job/{id} from C concurrent connections for S seconds and reports
   requests per second and p50/p99 latency.

--smoke is the same run in miniature (a 64 px upload, 25 submissions, 1 s of polls from 2
connections); its figures mean nothing, it shows the benchmark still works.

Client and server share this machine's CPUs, so the figures are a floor for the server.
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
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ServerProcess, accounts_for

SERVER_ENV = {
    # One user submits hundreds of jobs into a busy queue on purpose: quotas would answer
    # 429 and measure themselves instead of the submission path.
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
    "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
    "IMAGETUNE_MAX_QUEUE_LENGTH": "0",
    "IMAGETUNE_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),  # the upload is ~1 MB
    # The README's figures: one worker with 2 inference threads (the 2-core default),
    # pinned so a bigger machine or a new default does not change what is measured.
    "IMAGETUNE_WORKERS": "1",
    "IMAGETUNE_ENGINE_THREADS": "2",
    "IMAGETUNE_LOG_LEVEL": "warning",
}

# 25 submissions: more unfinished jobs than the default per-user quota, so the smoke run
# fails where the full run would.
SMOKE = {"submissions": 25, "poll_seconds": 1.0, "concurrency": 2, "side": 64}


def noise_png(side: int) -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)  # noise: incompressible
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def poll_load(base: str, key: str, job_ids: list[str], seconds: float, conns: int):
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def loop(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(f"/public/v1/job/{job_ids[i % len(job_ids)]}")
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop(n) for n in range(conns)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--poll-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--side", type=int, default=577, help="upload side; 577: ~1 MB")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: does it still work?")
    args = parser.parse_args()
    if args.smoke:
        parser.set_defaults(**SMOKE)  # options given explicitly still win
        args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", env=SERVER_ENV)
        try:
            server.start()
            ready = httpx.get(f"{server.base_url}/readyz").json()
            workers = ready["workers_expected"]
            accounts = accounts_for(server.data_dir)
            accounts.create_user("bench")
            key = accounts.create_key("bench").key
            image = noise_png(args.side)
            client = httpx.Client(
                base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            )

            def submit() -> tuple[float, str]:
                start = time.perf_counter()
                response = client.post(
                    "/public/v1/image-tune/upscale",
                    files={"image": ("bench.png", image, "image/png")},
                    data={"scale": "4K"},
                )
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.text
                return elapsed, response.json()["job_id"]

            busy = [submit()[1] for _ in range(workers * 2)]
            deadline = time.monotonic() + 30
            while (
                sum(
                    client.get(f"/public/v1/job/{j}").json()["started_at"] is not None for j in busy
                )
                < workers
            ):
                assert time.monotonic() < deadline, "workers never got busy"
                time.sleep(0.05)

            timed = [submit() for _ in range(args.submissions)]
            latencies = [t for t, _ in timed]
            running = sum(
                client.get(f"/public/v1/job/{j}").json()["status"] == "Pending" for j in busy
            )
            tenth = max(1, len(latencies) // 10)

            poll_latencies, statuses, elapsed = asyncio.run(
                poll_load(
                    server.base_url,
                    key,
                    [j for _, j in timed],
                    args.poll_seconds,
                    args.concurrency,
                )
            )
            client.close()
        finally:
            server.kill()

    command = "python bench/service.py " + shlex.join(sys.argv[1:])
    print(f"command: {command.strip()}")
    print(f"workers: {workers} (all busy with 4K jobs; {running} of the first jobs still Pending)")
    print(f"upload: {len(image) / 1e6:.2f} MB PNG, scale 4K")
    print(f"submission latency over {len(latencies)} submissions:")
    print(f"  p50 {ms(statistics.median(latencies))}   p99 {ms(percentile(latencies, 99))}")
    print(
        f"  p50 of first {tenth}: {ms(statistics.median(latencies[:tenth]))}   "
        f"p50 of last {tenth}: {ms(statistics.median(latencies[-tenth:]))} "
        f"(queue grew from {len(busy)} to {len(busy) + len(latencies)})"
    )
    total = len(poll_latencies)
    print(f"status polls, {args.concurrency} connections for {elapsed:.1f} s (workers busy):")
    print(
        f"  {total / elapsed:.0f} requests/s   p50 {ms(statistics.median(poll_latencies))}   "
        f"p99 {ms(percentile(poll_latencies, 99))}   statuses {statuses}"
    )


if __name__ == "__main__":
    main()
