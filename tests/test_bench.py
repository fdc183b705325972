"""The benchmarks still run: the --smoke of every script found in bench/.

A benchmark nobody runs rots (bench/service.py once stopped at 429 when quotas became
the default; bench/metrics_overhead.py once imported helpers that had moved). The scripts
are found on disk, so a new one is covered without editing this file: each runs from the
repository root, real engine and real servers included, must exit 0 and print the
command that ran it. The scripts listed in SMOKES are also checked for the lines of
figures they print, and name the services they need (a missing one skips, or fails in
CI).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from imagetune.db.engine import normalize_url
from tests import forkserver
from tests.databases import POSTGRES_URL, service_missing
from tests.support import ROOT

pytestmark = pytest.mark.slow

FIGURE = r"[\d.]+"


def postgres() -> str | None:
    engine = create_engine(normalize_url(POSTGRES_URL))
    try:
        with engine.connect():
            return None
    except OperationalError as e:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({e.orig})"
    finally:
        engine.dispose()


def wrk() -> str | None:
    return None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"


def initdb_or_root() -> str | None:
    if os.geteuid() == 0 or shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return None
    return "neither root (tmpfs) nor PostgreSQL's initdb (apt-get install postgresql)"


def vulkan() -> str | None:
    from imagetune.engine.devices import list_devices

    if list_devices():
        return None
    return "no Vulkan device (apt-get install mesa-vulkan-drivers for lavapipe)"


@dataclass(frozen=True)
class Smoke:
    lines: tuple[str, ...] = ()
    """Patterns (multi-line regular expressions) the output must contain."""
    args: tuple[str, ...] = ()
    needs: tuple[Callable[[], str | None], ...] = ()
    """Each answers None, or why what it checks is missing."""
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


SMOKES: dict[str, Smoke] = {
    "engine_speed.py": Smoke(
        (
            r"^command: python bench/engine_speed\.py --smoke$",
            r"^input: coffee \d+x\d+ PNG; \d+ threads; tile \d+$",
            r"^\| model \| scale \| passes \| engine \| bare whole \| ratio .*\| decode "
            r"\| inference \| resize \| encode png \| store \|$",
            rf"^\| photo \| 1K \| span-x[24] \| {FIGURE} s \| {FIGURE} s \| \*\*{FIGURE}x\*\* \|",
        )
    ),
    "quality.py": Smoke(
        (
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
    ),
    "formats.py": Smoke(
        (
            r"^command: python bench/formats\.py --smoke$",
            rf"^\| png \| fpng \| {FIGURE} ms \| {FIGURE} MB \| {FIGURE} dB \|$",
            rf"^\| avif \| q80 speed 10 \(engine\) \| {FIGURE} ms \| {FIGURE} MB "
            rf"\| {FIGURE} dB \|$",
            *(
                rf"^\| {label} \(3 frames out\) \| 2 of 3 \| {FIGURE} s \| {FIGURE} s \| "
                rf"{FIGURE} s \| {FIGURE} s \|$"
                for label in ("APNG", "webp", "gif")
            ),
        )
    ),
    "load.py": Smoke(
        (
            r"^command: python bench/load\.py --smoke$",
            r"^2 clients for [\d.]+ s against a fresh local service; model classic$",
            r"^endpoint +requests +req/s +p50 +p99 +codes$",
            rf"^POST upscale +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
            rf"^GET job +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
            rf"^GET result +\d+ +{FIGURE} +{FIGURE}ms +{FIGURE}ms +200: \d+",
            r"^jobs finished: \{'Succeed': \d+\} \(\d+ per minute\)$",
        )
    ),
    # The benchmark that once stopped at 429: polls against healthz, submissions, reuse.
    "service.py": Smoke(
        (
            r"^command: python3? bench/service\.py --smoke$",
            r"^\| server \| load \| healthz req/s \| poll req/s \| poll/healthz \|",
            rf"^\| this checkout \| workers idle, succeeded job \| [\d,]+ \| [\d,]+ "
            rf"\| \*\*{FIGURE}\*\*",
            rf"^\| this checkout \| submissions .* \| {FIGURE} ms \| {FIGURE} ms \|",
            r"^\| this checkout \| 4K job .* first [\d.]+ s \| repeat [\d.]+ s",
        ),
        needs=(wrk,),
    ),
    # The fleet queue only: --embedded measures the SQLite queue through the same code
    # and would double the time.
    "scale.py": Smoke(
        (
            r"^2 classic 1K jobs per burst, fleet queue \(PostgreSQL \+ Procrastinate\)$",
            r"^workers +jobs/min +busy +job p50 +wait p50 +wait p99$",
            rf"^ +1 +{FIGURE} +{FIGURE}% +{FIGURE}ms +{FIGURE}ms +{FIGURE}ms$",
            r"^scaling vs 1 worker\(s\): 1: 1\.00x$",
            r"^idle submission->start \(1 worker\(s\), 1 jobs one at a time\): p50 \d+ ms",
            r"^command: \.venv/bin/python bench/scale\.py --smoke --postgres \S+$",
        ),
        args=("--postgres", POSTGRES_URL),
        needs=(postgres,),
    ),
    "webhooks.py": Smoke(
        (
            r"^command: python bench/webhooks\.py --smoke$",
            r"^delivery latency \(job finished -> receiver\), 5 messages:$",
            rf"^  p50 {FIGURE} ms +p99 {FIGURE} ms +max {FIGURE} ms +all verified: True$",
        )
    ),
    "usage.py": Smoke(
        (
            r"^command: python bench/usage\.py --smoke$",
            r"^10,000 usage rows, 100 users, November 2026; PostgreSQL .* median of 3 runs$",
            r"^query +rows out +median ms +max ms$",
            rf"^month totals +1 +{FIGURE} +{FIGURE}$",
            rf"^by day,user,model,scale +[\d,]+ +{FIGURE} +{FIGURE}$",
            rf"^budget check, one user +1 +{FIGURE} +{FIGURE}$",
        ),
        needs=(postgres,),
    ),
    "faults.py": Smoke(
        (
            # One fault, its row: sent, 2xx, 4xx, 503, other 5xx, accepted, lost, failed,
            # recovery; then no 500, none lost or failed.
            rf"^\s*\S+\s+(storage full|database down)(\s+\d+){{8}}\s+{FIGURE} s$",
            rf"\s0\s+\d+\s+0\s+0\s+{FIGURE} s$",
        ),
        needs=(initdb_or_root,),
    ),
    "metrics_overhead.py": Smoke(
        (
            r"^command: python bench/metrics_overhead\.py --smoke$",
            r"^IMAGETUNE_METRICS \| submit p50 \| submit p99 \| polls/s \| poll p50 \| poll p99$",
            *(
                rf"^ +{flag} \| +{FIGURE} ms \| +{FIGURE} ms \| +\d+ \| +{FIGURE} ms \| "
                rf"+{FIGURE} ms$"
                for flag in (0, 1)
            ),
            rf"^metrics on: submission p50 [+-]{FIGURE}%, poll throughput [+-]{FIGURE}%$",
            r"^direct cost: \d+ us per request",
        )
    ),
    "gpu.py": Smoke(
        (
            r"^device: .*; original 96x64 PNG; \d+ threads$",
            rf"^\| photo \| 256 \| {FIGURE} \| {FIGURE} \| \d+ \| {FIGURE} \| {FIGURE} \| \d+ \|$",
            r"^command: .*bench/gpu\.py --smoke$",
        ),
        needs=(vulkan,),
    ),
    # Measures the image the container tests build: it runs with them (marker container,
    # after tests/deploy in that pytest run).
    "containers.py": Smoke(
        (
            r"^command: python bench/containers\.py --smoke$",
            rf"^\| serve, cpu image \| {FIGURE} s \| {FIGURE} s \|$",
        ),
        marks=(pytest.mark.container,),
    ),
}

SCRIPTS = sorted(
    os.path.basename(path)
    for path in glob.glob(os.path.join(ROOT, "bench", "*.py"))
    if not os.path.basename(path).startswith("_")
)


def test_every_listed_script_exists() -> None:
    assert set(SMOKES) <= set(SCRIPTS), "SMOKES names a script that is gone"


@pytest.mark.parametrize(
    "script",
    [pytest.param(script, marks=SMOKES.get(script, Smoke()).marks) for script in SCRIPTS],
)
def test_smoke(script: str) -> None:
    smoke = SMOKES.get(script, Smoke())
    for need in smoke.needs:
        if (reason := need()) is not None:
            service_missing(reason)
    argv = [f"bench/{script}", "--smoke", *smoke.args]
    command = ["python", *argv]
    # The smoke run, and the servers it starts, are forks of the suite's fork server: its
    # figures mean nothing, and a fresh interpreter for each costs about a CPU-second more
    # (tests/forkserver.py).
    env = {**os.environ, **forkserver.shared()}
    done = forkserver.capture(argv, env, 240, cwd=ROOT)
    output = done.stdout
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output}{done.stderr}"
    if skipped := re.search(r"^skipped: (.*)$", output, re.MULTILINE):
        service_missing(skipped.group(1))
    assert re.search(r"^command: .*bench/", output, re.MULTILINE), (
        f"{script} --smoke did not print the command that ran it:\n{output}"
    )
    for pattern in smoke.lines:
        assert re.search(pattern, output, re.MULTILINE), f"no line like {pattern!r} in:\n{output}"
