"""Submission latency with every worker busy, and status-poll throughput.

Run from the repository root:

    .venv/bin/python bench/service.py [--submissions 200] [--poll-seconds 10] [--concurrency 8]

It starts `imagetune serve` (default worker count) on a free port with a temporary data
directory, keeps every worker busy with 4K jobs, then:

1. submits a ~1 MB PNG N times, one after another, and reports p50/p99 latency (and p50 of
   the first and last tenth, to show latency does not grow with the queue);
2. polls GET /public/v1/job/{id} from C concurrent connections for S seconds and reports
   requests per second and p50/p99 latency.

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


def one_megabyte_png() -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (577, 577, 3), dtype=np.uint8)  # noise: incompressible
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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", env={"IMAGETUNE_LOG_LEVEL": "warning"})
        server.start()
        try:
            ready = httpx.get(f"{server.base_url}/readyz").json()
            workers = ready["workers_expected"]
            accounts = accounts_for(server.data_dir)
            accounts.create_user("bench")
            key = accounts.create_key("bench").key
            image = one_megabyte_png()
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
