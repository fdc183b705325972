"""A real Prometheus (Debian's `prometheus` package, installed by .ci/run) scrapes a
running service with the deployment's alert rules loaded, and its query API answers with
the number of jobs the service ran."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ClientFactory, ServerFactory
from tests.databases import service_missing
from tests.support import free_port, make_image

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "prometheus-test-token"
JOBS = 3


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        service_missing("the prometheus binary is not installed (apt-get install prometheus)")
    return binary


def start_prometheus(binary: str, root: Path, target: str) -> Iterator[str]:
    (root / "token").write_text(TOKEN)
    shutil.copy(DEPLOY / "alerts.yml", root / "alerts.yml")
    (root / "prometheus.yml").write_text(
        f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: imagetune
    authorization:
      credentials_file: {root / "token"}
    static_configs:
      - targets: ["{target}"]
"""
    )
    port = free_port()
    with (root / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(base: str, expression: str) -> float | None:
    try:
        response = httpx.get(f"{base}/api/v1/query", params={"query": expression}, timeout=5)
    except httpx.HTTPError:
        return None  # still starting
    if response.status_code != 200:
        return None
    result = response.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_service(
    prometheus_binary: str,
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    tmp_path: Path,
) -> None:
    server = server_factory(
        processor="sleep:0", IMAGETUNE_WORKERS="1", IMAGETUNE_METRICS_TOKEN=TOKEN
    )
    client = client_factory(server)
    for _ in range(JOBS):
        assert client.upscale(make_image())["status"] == "Succeed"
    target = server.base_url.removeprefix("http://")
    prometheus = start_prometheus(prometheus_binary, tmp_path, target)
    base = next(prometheus)
    try:
        expression = 'sum(imagetune_jobs_finished_total{outcome="succeeded"})'
        deadline = time.monotonic() + 60
        while (found := query(base, expression)) != JOBS:
            log = (tmp_path / "prometheus.log").read_text(errors="replace")
            assert time.monotonic() < deadline, f"Prometheus saw {found}:\n{log[-3000:]}"
            time.sleep(0.5)
        assert query(base, 'up{job="imagetune"}') == 1
        assert query(base, 'sum(imagetune_jobs_submitted_total{model="photo"})') == JOBS
        # The deployment's rules loaded and evaluate; nothing is wrong, so none fires.
        rules = httpx.get(f"{base}/api/v1/rules").json()["data"]["groups"]
        assert [group["name"] for group in rules] == ["imagetune"]
        assert all(rule["health"] != "err" for group in rules for rule in group["rules"])
    finally:
        next(prometheus, None)
