"""A fleet: `imagetune serve --no-workers` and `imagetune worker` on PostgreSQL. The API
node reports what it sees (submissions, requests), the worker host on its own port what
its processes do (finishes, waits, phases, busy or idle), and both the queue depth."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ClientFactory, ServerFactory, WorkerFactory
from tests.databases import fresh_postgres_database
from tests.metrics.scraping import scrape, value
from tests.support import make_image

pytestmark = pytest.mark.slow


def test_worker_host_serves_its_own_metrics(
    server_factory: ServerFactory, worker_factory: WorkerFactory, client_factory: ClientFactory
) -> None:
    request_ids: list[str] = []
    with fresh_postgres_database() as url:
        env = {
            "IMAGETUNE_DATABASE_URL": url,
            "IMAGETUNE_METRICS_TOKEN": "fleet-token",
            "IMAGETUNE_LOG_FORMAT": "json",
        }
        api = server_factory(args=("--no-workers",), processor="sleep:0", **env)
        host = worker_factory("metrics-host", processor="sleep:0", concurrency=2, **env)
        client = client_factory(api)
        job_ids = []
        for scale in ("1K", "2K"):
            submitted = client.submit(make_image(), scale)
            job_ids.append(submitted.json()["job_id"])
            assert client.wait(job_ids[-1])["status"] == "Succeed"
            request_ids.append(submitted.headers["X-Request-ID"])

        port = f"http://127.0.0.1:{host.metrics_port}/metrics"
        assert httpx.get(port).status_code == 401
        assert httpx.get(port, headers={"Authorization": "Bearer nope"}).status_code == 401
        with httpx.Client(headers={"Authorization": "Bearer fleet-token"}) as http:
            worker = scrape(http, port)
            node = scrape(api.http, Authorization="Bearer fleet-token")
        host.kill()

    # Procrastinate runs the job in a thread of its own; its lines still name the worker,
    # the job and the request.
    lines = [json.loads(line) for line in host.log().splitlines()]
    for job_id, request_id in zip(job_ids, request_ids, strict=True):
        about = [e for e in lines if e.get("job_id") == job_id]
        assert about
        assert all(e["request_id"] == request_id for e in about)
        assert all(e["worker_id"].startswith("metrics-host:") for e in about)

    for scale in ("1K", "2K"):
        labels = {"model": "photo", "scale": scale}
        assert value(worker, "imagetune_jobs_finished_total", outcome="succeeded", **labels) == 1
        assert value(node, "imagetune_jobs_submitted_total", **labels) == 1
        # Each counted once, where it happened.
        assert value(node, "imagetune_jobs_finished_total", **labels) == 0
        assert value(worker, "imagetune_jobs_submitted_total", **labels) == 0
    assert value(worker, "imagetune_job_queue_wait_seconds_count", model="photo") == 2
    for phase in ("decode", "inference", "resize", "encode", "store"):
        assert value(worker, "imagetune_job_phase_seconds_count", phase=phase) == 2, phase
    assert value(worker, "imagetune_workers", state="idle") == 2
    assert value(worker, "imagetune_workers", state="busy") == 0
    assert value(worker, "imagetune_engine_info", device="cpu") == 1
    for samples in (worker, node):
        assert value(samples, "imagetune_jobs", state="queued") == 0
        assert value(samples, "imagetune_jobs", state="running") == 0
    assert value(node, "imagetune_http_requests_total", route="/public/v1/image-tune/upscale") == 2
    assert not [s for s in worker if s.name.startswith("imagetune_http_")]
