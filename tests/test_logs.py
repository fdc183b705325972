"""Structured logs: with IMAGETUNE_LOG_FORMAT=json every line of a run with jobs is one
JSON object, and a request id joins the API's lines with the worker's about its job."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClientFactory, ServerFactory
from tests.support import make_image

pytestmark = pytest.mark.slow

REQUEST_ID = "checkout-42/retry 1"


def entries(log: str) -> list[dict[str, Any]]:
    lines = log.splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]  # every line, or this raises
    for entry in parsed:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert datetime.fromisoformat(entry["time"]).utcoffset() is not None  # RFC 3339
    return parsed


def test_json_lines_join_api_and_worker_by_request_id(
    server_factory: ServerFactory, client_factory: ClientFactory, tmp_path: Path
) -> None:
    # Jobs wait for the gate: the second job's original is gone before any job runs.
    gate = tmp_path / "gate"
    server = server_factory(processor=f"gate:{gate}", IMAGETUNE_LOG_FORMAT="json")
    client = client_factory(server)
    submitted = client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("a.png", make_image())},
        data={"scale": "1K"},
        headers={"X-Request-ID": REQUEST_ID},
    )
    assert submitted.status_code == 200
    assert submitted.headers["X-Request-ID"] == REQUEST_ID
    job_id = submitted.json()["job_id"]
    failed = client.submit(make_image(seed=1)).json()["job_id"]
    (server.data_dir / "files" / "originals" / failed).unlink()
    gate.touch()
    result = client.wait(job_id)
    assert client.download(result["image_urls"][0]).status_code == 200
    assert client.wait(failed)["status"] == "Failed"

    log = entries(server.log())
    post = [e for e in log if e.get("method") == "POST" and e.get("request_id") == REQUEST_ID]
    assert len(post) == 1
    assert post[0]["logger"] == "imagetune.access"
    assert post[0]["path"] == "/public/v1/image-tune/upscale"
    assert post[0]["status"] == 200
    assert post[0]["duration_ms"] >= 0
    assert isinstance(post[0]["user_id"], int)
    # The worker's lines about the job carry the job and the request that created it.
    about_job = [e for e in log if job_id in e["message"] and e["logger"] != "imagetune.access"]
    assert about_job
    for entry in about_job:
        assert entry["job_id"] == job_id
        assert entry["request_id"] == REQUEST_ID
        assert entry["worker_id"]
        assert entry["user_id"] == post[0]["user_id"]
    # Also a failure, whose request id the server made.
    failure = [e for e in log if e.get("job_id") == failed and e["level"] == "warning"]
    assert len(failure) == 1
    assert failure[0]["request_id"]
    assert failure[0]["request_id"] != REQUEST_ID
    # The download is logged with its signature redacted.
    downloads = [e for e in log if e.get("path", "").startswith("/files/results/")]
    assert downloads
    assert "sig=[redacted]" in downloads[0]["path"]
    assert "sig=[redacted]" in downloads[0]["message"]
    server.stop()
