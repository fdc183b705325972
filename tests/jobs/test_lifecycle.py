"""Jobs across server stops, kills and worker deaths: none is ever lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.support import make_image


def test_job_queued_at_stop_runs_after_restart(server_factory, client_factory) -> None:
    api_only = server_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(api_only)
    job_id = client.submit(make_image((90, 60)), "1K").json()["job_id"]
    assert client.job(job_id).json()["status"] == "Pending"
    api_only.stop()

    restarted = server_factory(api_only.data_dir, IMAGETUNE_WORKERS="1")
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id)
    assert job["status"] == "Succeed"
    assert httpx.get(job["image_urls"][0]).status_code == 200


def test_job_running_when_server_is_killed_succeeds_after_restart(
    server_factory, client_factory
) -> None:
    server = server_factory(IMAGETUNE_WORKERS="1")
    client = client_factory(server)
    # Big enough to take a second or two, so the kill lands mid-job.
    job_id = client.submit(make_image((900, 650)), "4K").json()["job_id"]
    client.wait_started(job_id)
    assert client.job(job_id).json()["status"] == "Pending"
    server.kill()

    restarted = server_factory(server.data_dir, IMAGETUNE_WORKERS="1")
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id, timeout=90)
    assert job["status"] == "Succeed", job
    assert "recovered jobs" in restarted.log()


def test_dead_worker_is_replaced_and_its_job_retried(server_factory, client_factory) -> None:
    server = server_factory(IMAGETUNE_WORKERS="1")
    client = client_factory(server)
    job_id = client.submit(make_image((900, 650)), "4K").json()["job_id"]
    client.wait_started(job_id)
    [worker] = server.worker_pids()
    os.kill(worker, signal.SIGKILL)

    job = client.wait(job_id, timeout=90)
    assert job["status"] == "Succeed", job
    [replacement] = server.worker_pids()
    assert replacement != worker
    ready = httpx.get(f"{server.base_url}/readyz").json()
    assert ready["workers_alive"] == ready["workers_expected"] == 1


def test_processing_failure_ends_failed_with_reason(server_factory, client_factory) -> None:
    api_only = server_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(api_only)
    job_id = client.submit(make_image(), "1K").json()["job_id"]
    api_only.stop()
    # The original vanishes from storage before any worker gets to it.
    original = Path(api_only.data_dir, "files", "originals", job_id)
    original.unlink()

    restarted = server_factory(api_only.data_dir, IMAGETUNE_WORKERS="1")
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id)
    assert job["status"] == "Failed"
    assert job["image_urls"] == []
    assert job["error"] == "The original image is no longer stored"
    assert job["finished_at"] is not None


def test_second_server_on_same_data_dir_is_refused(server_factory) -> None:
    first = server_factory(IMAGETUNE_WORKERS="1")
    with pytest.raises(RuntimeError, match="another imagetune server"):
        server_factory(first.data_dir, IMAGETUNE_WORKERS="1")


def test_kill_whole_service_with_fifty_jobs_queued_loses_none(
    server_factory, client_factory
) -> None:
    server = server_factory(IMAGETUNE_WORKERS="1", IMAGETUNE_MAX_UNFINISHED_PER_USER="0")
    client = client_factory(server)
    slow = client.submit(make_image((900, 650)), "4K").json()["job_id"]
    client.wait_started(slow)
    quick = [
        client.http.post(
            "/public/v1/image-tune/upscale",
            files={"image": ("a.png", make_image((40, 30), seed=i), "image/png")},
            data={"scale": "1K", "model": "classic"},
        ).json()["job_id"]
        for i in range(49)
    ]
    pending = [j for j in [slow, *quick] if client.job(j).json()["status"] == "Pending"]
    assert len(pending) >= 45  # most of them still queued when the service dies
    server.kill()

    restarted = server_factory(
        server.data_dir, IMAGETUNE_WORKERS="2", IMAGETUNE_MAX_UNFINISHED_PER_USER="0"
    )
    client.http.base_url = httpx.URL(restarted.base_url)
    results = [client.wait(j, timeout=120) for j in [slow, *quick]]
    assert [r["status"] for r in results] == ["Succeed"] * 50
    for result in results:
        assert len(result["image_urls"]) == 1


def test_job_over_the_time_limit_fails_and_its_worker_is_replaced(
    server_factory, client_factory
) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="1", IMAGETUNE_JOB_TIMEOUT="1", IMAGETUNE_ENGINE_TILE="32"
    )
    client = client_factory(server)
    [worker] = server.worker_pids()
    slow = client.http.post(
        "/public/v1/image-tune/upscale",
        files={"image": ("a.png", make_image((128, 96)), "image/png")},
        data={"scale": "1K", "model": "enhance"},
    ).json()["job_id"]
    job = client.wait(slow, timeout=60)
    assert job["status"] == "Failed"
    assert job["error"] == "Processing took longer than the 1 s limit"
    after = client.upscale(make_image((20, 10)), "1K")  # the replacement worker
    assert after["status"] == "Succeed"
    assert worker not in server.worker_pids()


def test_job_over_the_memory_limit_fails_and_the_service_keeps_serving(
    server_factory, client_factory
) -> None:
    server = server_factory(IMAGETUNE_WORKERS="1", IMAGETUNE_WORKER_MEMORY_MB="600")
    client = client_factory(server)
    big = client.submit(make_image((2000, 1500)), "4K").json()["job_id"]
    job = client.wait(big, timeout=180)
    assert job["status"] == "Failed"
    # ncnn fails its allocations inside the limit; the worker process survives.
    assert job["error"] == "Not enough memory to process this image"
    assert httpx.get(f"{server.base_url}/readyz").json()["status"] == "ready"
    assert client.upscale(make_image((20, 10)), "1K")["status"] == "Succeed"
