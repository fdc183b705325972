"""What metrics cost the API: submission latency and status-poll throughput with
IMAGETUNE_METRICS=0 and =1, side by side in one run on the same machine.

Run from the repository root:

    .venv/bin/python bench/metrics_overhead.py [--rounds 5] [--submissions 40] [--poll-seconds 3]
    .venv/bin/python bench/metrics_overhead.py --smoke    # seconds: does it still run?

Two `imagetune serve` processes run at once (API only, so no worker competes for the
CPUs; quotas off, so nothing is refused), identical but for IMAGETUNE_METRICS. Rounds
alternate between them (and which goes first), so drift in the machine's load hits both
alike. Each round
submits the ~1 MB PNG of bench/service.py N times in a row, then polls job status from 8
connections for S seconds. Request ids and access logging run in both (they are not
metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service import one_megabyte_png, percentile
from tests.support import ServerProcess, accounts_for

SETTINGS = {
    "IMAGETUNE_WORKERS": "0",
    "IMAGETUNE_LOG_LEVEL": "warning",
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "0",
    "IMAGETUNE_MAX_UNFINISHED_PER_USER": "0",
    "IMAGETUNE_MAX_QUEUE_LENGTH": "0",
    # Submissions must do the same work in every round: no answer from an earlier one.
    "IMAGETUNE_RESULT_REUSE": "0",
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def poll_load(
    base: str, key: str, job_ids: list[str], seconds: float, connections: int
) -> tuple[list[float], dict[int, int], float]:
    """GET job status from ``connections`` concurrent loops for ``seconds``: latencies,
    status counts and the time taken."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
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
        await asyncio.gather(*(loop(n) for n in range(connections)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


def measure(
    servers: dict[str, ServerProcess],
    args: argparse.Namespace,
    image: bytes,
    submit: dict[str, list[float]],
    polls: dict[str, list[float]],
    poll_seconds: dict[str, float],
) -> None:
    keys = {}
    for flag, server in servers.items():
        accounts = accounts_for(server.data_dir)
        accounts.create_user("bench")
        keys[flag] = accounts.create_key("bench").key
    assert servers["1"].http.get("/metrics").status_code == (404 if args.control else 200)
    assert servers["0"].http.get("/metrics").status_code == 404
    job_ids: dict[str, list[str]] = {"0": [], "1": []}
    for round_ in range(max(1, args.rounds // 2)):
        # Each goes first every other round: no order effect favours either.
        for flag in ("0", "1") if round_ % 2 == 0 else ("1", "0"):
            server = servers[flag]
            headers = {"Authorization": f"Bearer {keys[flag]}"}
            with httpx.Client(base_url=server.base_url, headers=headers) as client:
                for _ in range(args.submissions):
                    start = time.perf_counter()
                    response = client.post(
                        "/public/v1/image-tune/upscale",
                        files={"image": ("bench.png", image, "image/png")},
                        data={"scale": "4K"},
                    )
                    submit[flag].append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text
                    job_ids[flag].append(response.json()["job_id"])
            latencies, statuses, elapsed = asyncio.run(
                poll_load(
                    server.base_url, keys[flag], job_ids[flag], args.poll_seconds, args.concurrency
                )
            )
            assert set(statuses) == {200}, statuses
            assert latencies, "no poll finished"
            polls[flag] += latencies
            poll_seconds[flag] += elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--poll-seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--control",
        action="store_true",
        help="both servers with metrics off: the difference the machine's noise alone makes",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds: does it still run? (no figures)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.submissions, args.poll_seconds = 2, 3, 0.5
    image = one_megabyte_png()
    submit: dict[str, list[float]] = {"0": [], "1": []}
    polls: dict[str, list[float]] = {"0": [], "1": []}
    poll_seconds: dict[str, float] = {"0": 0.0, "1": 0.0}

    # Two servers side by side differ by a few percent on a busy machine whatever their
    # settings (see --control), so each pass swaps which of them has metrics on.
    changes: list[float] = []
    passes = (False,) if args.smoke else (False, True)
    for swapped in passes:
        positions = ("1", "0") if swapped else ("0", "1")
        with tempfile.TemporaryDirectory() as tmp:
            servers: dict[str, ServerProcess] = {}
            for position, flag in zip(("a", "b"), positions, strict=True):
                server = ServerProcess(
                    Path(tmp) / position / "data",
                    env={**SETTINGS, "IMAGETUNE_METRICS": "0" if args.control else flag},
                )
                server.data_dir.parent.mkdir(parents=True)
                servers[flag] = server.start()
            try:
                before = {flag: len(submit[flag]) for flag in submit}
                measure(servers, args, image, submit, polls, poll_seconds)
                p50 = {f: statistics.median(submit[f][before[f] :]) for f in submit}
                changes.append(p50["1"] / p50["0"] - 1)
                print(
                    f"pass {'b' if swapped else 'a'}: submission p50 {ms(p50['0'])} off, "
                    f"{ms(p50['1'])} on ({changes[-1]:+.1%})",
                    flush=True,
                )
            finally:
                for server in servers.values():
                    server.kill()

    print(f"command: python bench/metrics_overhead.py {shlex.join(sys.argv[1:])}".strip())
    print(
        f"{args.rounds} alternating rounds in {len(passes)} pass(es) (servers swapped); API only; "
        "quotas off; 1 MB PNG at 4K" + (" [control: metrics off in both]" if args.control else "")
    )
    print("IMAGETUNE_METRICS | submit p50 | submit p99 | polls/s | poll p50 | poll p99")
    for flag in ("0", "1"):
        print(
            f"{flag:>17} | {ms(statistics.median(submit[flag])):>10} | "
            f"{ms(percentile(submit[flag], 99)):>10} | "
            f"{len(polls[flag]) / poll_seconds[flag]:>7.0f} | "
            f"{ms(statistics.median(polls[flag])):>8} | {ms(percentile(polls[flag], 99)):>8}"
        )
    # Per pass, then averaged: the load drifts between passes more than metrics cost.
    submit_change = statistics.mean(changes)
    rate = {flag: len(polls[flag]) / poll_seconds[flag] for flag in polls}
    poll_change = 1 - rate["1"] / rate["0"]
    print(f"metrics on: submission p50 {submit_change:+.1%}, poll throughput {-poll_change:+.1%}")
    direct_cost(
        statistics.median(submit["0"]), statistics.median(polls["0"]), 200 if args.smoke else 2000
    )


def direct_cost(submit_p50: float, poll_p50: float, n: int = 2000) -> None:
    """The work metrics add, timed alone in this process: what a request pays, free of
    the noise of two servers sharing a busy machine."""
    from imagetune.metrics import multiprocess

    with multiprocess.held():
        from tests.factories import JobWorld

        from imagetune.metrics.http import HttpMetrics
        from imagetune.metrics.jobs import JobMetrics

        http = HttpMetrics()
        started = time.perf_counter()
        for _ in range(n):
            http.record("GET", "/public/v1/job/{job_id}", 200, 0.01, {})
        per_request = (time.perf_counter() - started) / n
        creates: dict[bool, float] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for observed in (False, True, False, True):
                world = JobWorld(f"sqlite:///{tmp}/{observed}-{len(creates)}.db")
                if observed:
                    world.states.observe(JobMetrics(world.sessions))
                times = []
                for _ in range(n // 4):
                    start = time.perf_counter()
                    world.submit()
                    times.append(time.perf_counter() - start)
                creates[observed] = min(creates.get(observed, 1.0), statistics.median(times))
    per_job = creates[True] - creates[False]
    print(
        f"direct cost: {per_request * 1e6:.0f} us per request (HTTP metrics), "
        f"{per_job * 1e6:.0f} us per job created (observer; store.create "
        f"{creates[False] * 1e3:.2f} -> {creates[True] * 1e3:.2f} ms)"
    )
    print(
        f"  = {(per_request + per_job) / submit_p50:.1%} of a submission's p50, "
        f"{per_request / poll_p50:.2%} of a poll's"
    )


if __name__ == "__main__":
    main()
