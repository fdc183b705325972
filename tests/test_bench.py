"""The benchmarks still run: each script's --smoke, as its docstring says to run it.

A benchmark nobody runs rots (bench/service.py once stopped at 429 when quotas became
the default). These run each script from the repository root, real engine and real
servers included, and check it printed its figures, not just that it exited.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from imagetune.db.engine import normalize_url
from tests.databases import POSTGRES_URL, service_missing
from tests.support import ROOT

pytestmark = pytest.mark.slow

FIGURE = r"[\d.]+"


def run_smoke(script: str, *args: str) -> str:
    """``python bench/SCRIPT --smoke ARGS`` from the repository root; its output."""
    command = [sys.executable, f"bench/{script}", "--smoke", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def assert_lines(output: str, *patterns: str) -> None:
    for pattern in patterns:
        assert re.search(pattern, output, re.MULTILINE), f"no line like {pattern!r} in:\n{output}"


def test_engine_speed() -> None:
    output = run_smoke("engine_speed.py")

    assert_lines(
        output,
        r"^command: python bench/engine_speed\.py --smoke$",
        r"^input: coffee \d+x\d+ PNG; \d+ threads; tile \d+$",
        r"^\| model \| scale \| passes \| engine \| bare whole \| ratio .*\| decode \| inference "
        r"\| resize \| encode png \| store \|$",
        rf"^\| photo \| 1K \| span-x[24] \| {FIGURE} s \| {FIGURE} s \| \*\*{FIGURE}x\*\* \|",
    )


def test_quality() -> None:
    output = run_smoke("quality.py")

    assert_lines(
        output,
        r"^command: python bench/quality\.py --smoke$",
        r"^x4 on chelsea$",
        r"^variant +method +PSNR-Y +SSIM-Y +vs Lanczos +s/image$",
        *(
            rf"^{variant} +{method} +{FIGURE} +{FIGURE} +[+-]{FIGURE} +{FIGURE}$"
            for variant in ("clean", "JPEG-75")
            for method in ("lanczos", "photo", "classic")
        ),
        rf"^  SPAN x4 \+ Lanczos x2 \(engine\) +{FIGURE}$",
        rf"^  x2\.5 clean +span-x2 \+ Lanczos: [+-]{FIGURE} dB",
        # The noise-level table: quality 75 (estimated from the file), five candidates.
        rf"^\| 75 \| 7\d \|( [+-]{FIGURE} \|){{5}} \w+ \| denoise2 \| [+-]{FIGURE} \|$",
    )


def test_formats() -> None:
    output = run_smoke("formats.py")

    assert_lines(
        output,
        r"^command: python bench/formats\.py --smoke$",
        rf"^\| png \| fpng \| {FIGURE} ms \| {FIGURE} MB \| {FIGURE} dB \|$",
        rf"^\| avif \| q80 speed 10 \(engine\) \| {FIGURE} ms \| {FIGURE} MB \| {FIGURE} dB \|$",
        *(
            rf"^\| {label} \(3 frames out\) \| 2 of 3 \| {FIGURE} s \| {FIGURE} s \| "
            rf"{FIGURE} s \| {FIGURE} s \|$"
            for label in ("APNG", "webp", "gif")
        ),
    )


def test_load() -> None:
    output = run_smoke("load.py")

    assert_lines(
        output,
        r"^command: python bench/load\.py --smoke$",
        r"^2 clients for [\d.]+ s against a fresh local service; model classic$",
        r"^endpoint +requests +req/s +p50 +p99 +codes$",
        rf"^POST upscale +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
        rf"^GET job +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
        rf"^GET result +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
        r"^jobs finished: \{'Succeed': \d+\} \(\d+ per minute\)$",
    )


def test_service() -> None:
    """The benchmark that once stopped at 429: polls against healthz, submissions, reuse."""
    if shutil.which("wrk") is None:
        service_missing("wrk is not installed (apt-get install wrk)")
    output = run_smoke("service.py")

    assert_lines(
        output,
        r"^command: python3? bench/service\.py --smoke$",
        r"^\| server \| load \| healthz req/s \| poll req/s \| poll/healthz \|",
        rf"^\| this checkout \| workers idle, succeeded job \| [\d,]+ \| [\d,]+ "
        rf"\| \*\*{FIGURE}\*\*",
        rf"^\| this checkout \| submissions .* \| {FIGURE} ms \| {FIGURE} ms \|",
        r"^\| this checkout \| 4K job .* first [\d.]+ s \| repeat [\d.]+ s",
    )


def test_scale() -> None:
    engine = create_engine(normalize_url(POSTGRES_URL))
    try:
        with engine.connect():
            pass
    except OperationalError as e:
        service_missing(f"PostgreSQL at {POSTGRES_URL} is not reachable ({e.orig})")
    finally:
        engine.dispose()

    # The fleet queue only: --embedded measures the SQLite queue through the same code
    # and would double the time.
    output = run_smoke("scale.py", "--postgres", POSTGRES_URL)

    assert_lines(
        output,
        r"^2 classic 1K jobs per burst, fleet queue \(PostgreSQL \+ Procrastinate\)$",
        r"^workers +jobs/min +busy +job p50 +wait p50 +wait p99$",
        rf"^ +1 +{FIGURE} +{FIGURE}% +{FIGURE}ms +{FIGURE}ms +{FIGURE}ms$",
        r"^scaling vs 1 worker\(s\): 1: 1\.00x$",
        r"^idle submission->start \(1 worker\(s\), 1 jobs one at a time\): p50 \d+ ms",
        r"^command: \.venv/bin/python bench/scale\.py --smoke --postgres \S+$",
    )


def test_webhooks() -> None:
    output = run_smoke("webhooks.py")

    assert_lines(
        output,
        r"^command: python bench/webhooks\.py --smoke$",
        r"^delivery latency \(job finished -> receiver\), 5 messages:$",
        rf"^  p50 {FIGURE} ms +p99 {FIGURE} ms +max {FIGURE} ms +all verified: True$",
    )


def test_usage() -> None:
    engine = create_engine(normalize_url(POSTGRES_URL))
    try:
        with engine.connect():
            pass
    except OperationalError as e:
        service_missing(f"PostgreSQL at {POSTGRES_URL} is not reachable ({e.orig})")
    finally:
        engine.dispose()

    output = run_smoke("usage.py")

    assert_lines(
        output,
        r"^command: python bench/usage\.py --smoke$",
        r"^10,000 usage rows, 100 users, November 2026; PostgreSQL .* median of 3 runs$",
        r"^query +rows out +median ms +max ms$",
        rf"^month totals +1 +{FIGURE} +{FIGURE}$",
        rf"^by day,user,model,scale +[\d,]+ +{FIGURE} +{FIGURE}$",
        rf"^budget check, one user +1 +{FIGURE} +{FIGURE}$",
    )


def test_faults() -> None:
    if (
        os.geteuid() != 0
        and not shutil.which("initdb")
        and not glob.glob("/usr/lib/postgresql/*/bin/initdb")
    ):
        service_missing("neither root (tmpfs) nor PostgreSQL's initdb (apt-get install postgresql)")
    output = run_smoke("faults.py")
    # One fault, its row: sent, 2xx, 4xx, 503, other 5xx, accepted, lost, failed, recovery.
    assert_lines(output, rf"^\s*\S+\s+(storage full|database down)(\s+\d+){{8}}\s+{FIGURE} s$")
    assert_lines(output, rf"\s0\s+\d+\s+0\s+0\s+{FIGURE} s$")  # no 500, none lost or failed
