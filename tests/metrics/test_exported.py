"""/metrics of a real `imagetune serve` after real jobs (succeeded and failed), uploads
refused for every reason and requests to every route: every name and label of the
operations issue, with the right counts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.metrics.scraping import Sample, label_values, scrape, value
from tests.support import ApiClient, ServerProcess, accounts_for, make_image

pytestmark = pytest.mark.slow

ENV = {
    "IMAGETUNE_WORKERS": "1",
    "IMAGETUNE_RATE_LIMIT_PER_MINUTE": "3",
    "IMAGETUNE_MAX_UNFINISHED_PER_USER": "2",
    "IMAGETUNE_MAX_QUEUE_LENGTH": "3",
    "IMAGETUNE_MAX_UPLOAD_BYTES": "100000",
}
UPLOAD = "/public/v1/image-tune/upscale"
JOB = "/public/v1/job/{job_id}"


@dataclass
class Run:
    server: ServerProcess
    busy: list[Sample]
    """Scraped while one job ran (held by the gate) and two were queued."""
    final: list[Sample]
    """Scraped once every job had finished."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("metrics")
    gate = root / "gate"
    server = ServerProcess(root / "data", env=ENV, processor=f"gate:{gate}")
    server.start()
    accounts = accounts_for(server.data_dir)

    def client(name: str) -> ApiClient:
        accounts.create_user(name)
        return ApiClient(server.client_for(accounts.create_key(name).key))

    try:
        yield scenario(server, client, gate)
    finally:
        server.stop()
        server.assert_no_server_errors()


def scenario(server: ServerProcess, client, gate: Path) -> Run:  # type: ignore[no-untyped-def]
    image = make_image()
    # Refused before anything is queued, one reason each (3 submissions: the rate limit).
    e = client("e")
    assert e.http.post(UPLOAD, content=b"x" * 150_000).status_code == 413
    assert e.submit(b"not an image at all").status_code == 400
    assert e.http.post(UPLOAD, files={"image": ("a.png", image)}).status_code == 422
    assert e.http.get("/public/v1/job/not-a-uuid").status_code == 422
    # One job held running by the gate, one queued; the user's third is over the cap.
    a = client("a")
    held = a.submit(image).json()["job_id"]
    a.wait_started(held)
    doomed = a.submit(image).json()["job_id"]
    assert a.submit(image).status_code == 429  # unfinished_cap
    b = client("b")
    queued = b.submit(image).json()["job_id"]
    assert client("c").submit(image).status_code == 429  # queue_cap: 3 unfinished
    d = client("d")
    for _ in range(3):
        assert d.submit(image).status_code == 429  # queue_cap, each taking a token
    limited = d.submit(image)
    assert limited.status_code == 429
    assert "Rate limit" in limited.json()["detail"]
    busy = scrape(server.http)
    # The doomed job's original goes missing before a worker reaches it: it fails.
    (server.data_dir / "files" / "originals" / doomed).unlink()
    gate.touch()
    assert a.wait(held)["status"] == "Succeed"
    assert a.wait(doomed)["status"] == "Failed"
    result = b.wait(queued)
    assert result["status"] == "Succeed"
    assert b.download(result["image_urls"][0]).status_code == 200
    # Every other route once.
    a.http.get("/public/v1/models").raise_for_status()
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        server.http.get(path).raise_for_status()
    assert server.http.get("/no/such/path").status_code == 404
    return Run(server, busy, scrape(server.http))


def test_job_counters(run: Run) -> None:
    final = run.final
    assert value(final, "imagetune_jobs_submitted_total", model="photo", scale="1K") == 3
    finished = "imagetune_jobs_finished_total"
    assert value(final, finished, model="photo", scale="1K", outcome="succeeded") == 2
    assert value(final, finished, model="photo", scale="1K", outcome="failed") == 1
    assert value(final, "imagetune_job_queue_wait_seconds_count", model="photo") == 3
    assert value(final, "imagetune_job_queue_wait_seconds_sum", model="photo") > 0


def test_phase_histograms(run: Run) -> None:
    # The failed job never reached the processor; the two that succeeded went through all.
    for phase in ("decode", "inference", "resize", "encode", "store"):
        count = value(run.final, "imagetune_job_phase_seconds_count", model="photo", phase=phase)
        assert count == 2, phase
    assert label_values(run.final, "imagetune_job_phase_seconds_count", "phase") == {
        "decode",
        "inference",
        "resize",
        "encode",
        "store",
    }


def test_queue_depth_and_workers_while_busy_and_after(run: Run) -> None:
    assert value(run.busy, "imagetune_jobs", state="queued") == 2
    assert value(run.busy, "imagetune_jobs", state="running") == 1
    assert value(run.busy, "imagetune_workers", state="busy") == 1
    assert value(run.busy, "imagetune_workers", state="idle") == 0
    assert value(run.final, "imagetune_jobs", state="queued") == 0
    assert value(run.final, "imagetune_jobs", state="running") == 0
    assert value(run.final, "imagetune_workers", state="busy") == 0
    assert value(run.final, "imagetune_workers", state="idle") == 1


def test_rejections_by_reason(run: Run) -> None:
    expected = {
        "too_large": 1,
        "invalid_image": 1,
        "validation": 2,
        "unfinished_cap": 1,
        "queue_cap": 4,
        "rate_limit": 1,
    }
    for reason, count in expected.items():
        assert value(run.final, "imagetune_rejections_total", reason=reason) == count, reason


def test_http_requests_by_route_template(run: Run) -> None:
    total = "imagetune_http_requests_total"
    final = run.final
    assert value(final, total, method="POST", route=UPLOAD, status="200") == 3
    assert value(final, total, method="POST", route=UPLOAD, status="429") == 6
    assert value(final, total, method="POST", route=UPLOAD, status="413") == 1
    assert value(final, total, method="POST", route=UPLOAD, status="400") == 1
    assert value(final, total, method="POST", route=UPLOAD, status="422") == 1
    assert value(final, total, method="GET", route=JOB, status="422") == 1
    assert value(final, total, method="GET", route=JOB, status="200") >= 3
    routes = label_values(final, total, "route")
    assert {
        "/public/v1/models",
        "/files/{key:path}",
        "/healthz",
        "/readyz",
        "/docs",
        "/openapi.json",
        "/metrics",
        "unmatched",
    } <= routes
    durations = "imagetune_http_request_duration_seconds_count"
    assert value(final, durations, method="POST", route=UPLOAD) == 12
    assert label_values(final, durations, "route") == routes


def test_engine_info_and_declared_webhook_outcomes(run: Run) -> None:
    info = [s for s in run.final if s.name == "imagetune_engine_info"]
    assert [(s.labels["device"], s.value) for s in info] == [("cpu", 1.0)]
    assert int(info[0].labels["threads"]) >= 1
    # No webhooks exist yet: the counter is declared, each outcome at zero.
    for outcome in ("delivered", "retried", "given_up", "refused"):
        samples = [
            s
            for s in run.final
            if s.name == "imagetune_webhook_deliveries_total" and s.labels == {"outcome": outcome}
        ]
        assert [s.value for s in samples] == [0.0], outcome


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ALLOWED_LABELS = {
    "method",
    "route",
    "status",
    "model",
    "scale",
    "outcome",
    "phase",
    "state",
    "reason",
    "device",
    "threads",
    "le",
}


TEMPLATES = {
    UPLOAD,
    JOB,
    "/public/v1/models",
    "/files/{key:path}",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "unmatched",
}


def test_no_high_cardinality_label(run: Run) -> None:
    for sample in run.final:
        assert set(sample.labels) <= ALLOWED_LABELS, sample
        for label, text in sample.labels.items():
            assert not UUID.search(text), sample
            assert "?" not in text, sample
            assert "sig=" not in text, sample
            assert "itk_" not in text, sample  # no API key
            if label == "route":
                assert text in TEMPLATES, sample  # a template, never a raw path


def test_each_api_answer_echoes_a_request_id(run: Run) -> None:
    given = run.server.http.get("/healthz", headers={"X-Request-ID": "trace-7 ok"})
    assert given.headers["X-Request-ID"] == "trace-7 ok"
    for bad in ("", "x" * 129, "tab\there"):
        made = run.server.http.get("/healthz", headers={"X-Request-ID": bad})
        assert made.headers["X-Request-ID"] not in (bad, "")
    fresh = httpx.get(f"{run.server.base_url}/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def queried_metrics() -> set[str]:
    """Every metric name the dashboard's and the alert rules' expressions use."""
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return {name for expr in expressions for name in re.findall(r"\bimagetune_\w+", expr)}


def test_every_metric_the_dashboard_and_alerts_query_is_exported(run: Run) -> None:
    queried = queried_metrics()
    assert len(queried) >= 10
    exported = {s.name for s in run.final}
    assert queried - exported == set()
