"""Jobs across server stops, kills and worker deaths: none is ever lost.

Workers here run processors that take a chosen time (tests.processors): a job "caught
mid-job" is one held by a gate file the test has not created yet, never a CPU race.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from imagetune.cli.main import app as cli
from tests.support import make_image

QUICK = "sleep:0"


def test_job_queued_at_stop_runs_after_restart(server_factory, client_factory) -> None:
    api_only = server_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(api_only)
    job_id = client.submit(make_image((90, 60)), "1K").json()["job_id"]
    assert client.job(job_id).json()["status"] == "Pending"
    api_only.stop()

    restarted = server_factory(api_only.data_dir, IMAGETUNE_WORKERS="1", processor=QUICK)
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id)
    assert job["status"] == "Succeed"
    assert client.download(job["image_urls"][0]).status_code == 200
    restarted.stop()
    # A clean stop says nothing alarming: no leaked semaphores, no warning of any kind.
    assert "Warning" not in restarted.log()
    assert "leaked" not in restarted.log()


def test_a_worker_host_with_nothing_to_run_refuses_to_start(tmp_path: Path) -> None:
    refused = CliRunner().invoke(
        cli, ["worker"], env={"IMAGETUNE_DATA_DIR": str(tmp_path), "IMAGETUNE_WORKERS": "0"}
    )
    assert refused.exit_code == 1
    assert "IMAGETUNE_WORKERS=0 leaves `imagetune worker` nothing to run" in refused.output


def test_job_running_when_server_is_killed_succeeds_after_restart(
    server_factory, client_factory, tmp_path: Path
) -> None:
    server = server_factory(IMAGETUNE_WORKERS="1", processor=f"gate:{tmp_path / 'never'}")
    client = client_factory(server)
    job_id = client.submit(make_image((90, 60)), "1K").json()["job_id"]
    client.wait_started(job_id)
    server.kill()

    restarted = server_factory(server.data_dir, IMAGETUNE_WORKERS="1", processor=QUICK)
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id)
    assert job["status"] == "Succeed", job
    assert "recovered jobs" in restarted.log()


def test_workers_stop_when_the_api_process_alone_is_killed(server_factory) -> None:
    # SIGKILL to the API's pid only (an OOM kill, say), not its process group: its
    # workers, children of its fork server, must not go on taking jobs without it.
    server = server_factory(IMAGETUNE_WORKERS="2", processor=QUICK)
    workers = server.worker_pids(expected=2)
    assert len(workers) == 2
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while not all(ended(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers outlived their API process"
        time.sleep(0.1)


def ended(pid: int) -> bool:
    """Exited (a zombie counts: it runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_dead_worker_is_replaced_and_its_job_retried(
    server_factory, client_factory, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    server = server_factory(IMAGETUNE_WORKERS="1", processor=f"gate:{gate}")
    client = client_factory(server)
    job_id = client.submit(make_image((90, 60)), "1K").json()["job_id"]
    client.wait_started(job_id)
    [worker] = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    gate.touch()  # the retry may finish

    job = client.wait(job_id)
    assert job["status"] == "Succeed", job
    [replacement] = server.worker_pids()
    assert replacement != worker
    ready = server.http.get("/readyz").json()
    assert ready["workers_alive"] == ready["workers_expected"] == 1


def test_processing_failure_ends_failed_with_reason(server_factory, client_factory) -> None:
    api_only = server_factory(IMAGETUNE_WORKERS="0")
    client = client_factory(api_only)
    job_id = client.submit(make_image(), "1K").json()["job_id"]
    api_only.stop()
    # The original vanishes from storage before any worker gets to it.
    original = Path(api_only.data_dir, "files", "originals", job_id)
    original.unlink()

    restarted = server_factory(api_only.data_dir, IMAGETUNE_WORKERS="1", processor=QUICK)
    client.http.base_url = httpx.URL(restarted.base_url)
    job = client.wait(job_id)
    assert job["status"] == "Failed"
    assert job["image_urls"] == []
    assert job["error"] == "The original image is no longer stored"
    assert job["finished_at"] is not None
    # The client gets the sentence; the log keeps the cause, with the job id.
    assert f"job {job_id} failed: The original image is no longer stored" in restarted.log()
    assert "FileNotFoundError" in restarted.log()


def test_second_server_on_same_data_dir_is_refused(server_factory) -> None:
    first = server_factory(IMAGETUNE_WORKERS="1", processor=QUICK)
    with pytest.raises(RuntimeError, match="another imagetune server"):
        server_factory(first.data_dir, IMAGETUNE_WORKERS="1", processor=QUICK)


def test_kill_whole_service_with_fifty_jobs_queued_loses_none(
    server_factory, client_factory, tmp_path: Path
) -> None:
    server = server_factory(
        IMAGETUNE_WORKERS="1",
        IMAGETUNE_MAX_UNFINISHED_PER_USER="0",
        processor=f"gate:{tmp_path / 'never'}",
    )
    client = client_factory(server)
    held = client.submit(make_image((90, 60)), "1K").json()["job_id"]
    client.wait_started(held)
    queued = [client.submit(make_image((40, 30), seed=i), "1K").json()["job_id"] for i in range(49)]
    statuses = {client.job(j).json()["status"] for j in [held, *queued]}
    assert statuses == {"Pending"}  # the one worker is held: every job is unfinished
    server.kill()

    restarted = server_factory(
        server.data_dir,
        IMAGETUNE_WORKERS="2",
        IMAGETUNE_MAX_UNFINISHED_PER_USER="0",
        processor=QUICK,
    )
    client.http.base_url = httpx.URL(restarted.base_url)
    results = [client.wait(j, timeout=120) for j in [held, *queued]]
    assert [r["status"] for r in results] == ["Succeed"] * 50
    for result in results:
        assert len(result["image_urls"]) == 1


def test_a_job_over_the_time_limit_stops_itself(server_factory, client_factory) -> None:
    # The processor checks its deadline as it goes (the engine does, between tiles).
    server = server_factory(IMAGETUNE_WORKERS="1", IMAGETUNE_JOB_TIMEOUT="1", processor="sleep:30")
    client = client_factory(server)
    [worker] = server.worker_pids()
    job = client.wait(client.submit(make_image(), "1K").json()["job_id"], timeout=30)
    assert (job["status"], job["error"]) == ("Failed", "Processing took longer than the 1 s limit")
    assert server.worker_pids() == [worker]  # no need to replace it


def test_a_hung_job_is_failed_and_its_worker_replaced(
    server_factory, client_factory, tmp_path: Path
) -> None:
    # A processor that never checks its deadline: the supervisor is the backstop.
    server = server_factory(
        IMAGETUNE_WORKERS="1", IMAGETUNE_JOB_TIMEOUT="1", processor=f"gate:{tmp_path / 'never'}"
    )
    client = client_factory(server)
    [worker] = server.worker_pids()
    job = client.wait(client.submit(make_image(), "1K").json()["job_id"], timeout=30)
    assert (job["status"], job["error"]) == ("Failed", "Processing took longer than the 1 s limit")
    (tmp_path / "never").touch()  # the replacement may run jobs
    assert client.upscale(make_image((20, 10)), "1K")["status"] == "Succeed"
    assert worker not in server.worker_pids()


@pytest.mark.slow
def test_job_over_the_memory_limit_fails_and_the_service_keeps_serving(
    server_factory, client_factory
) -> None:
    # The real engine: ncnn fails its allocations inside the limit; the worker survives.
    server = server_factory(IMAGETUNE_WORKERS="1", IMAGETUNE_WORKER_MEMORY_MB="600")
    client = client_factory(server)
    big = client.submit(make_image((2000, 1500)), "4K").json()["job_id"]
    job = client.wait(big, timeout=180)
    assert (job["status"], job["error"]) == (
        "Failed",
        "Not enough memory to process this image",
    ), server.log()[-4000:]
    assert server.http.get("/readyz").json()["status"] == "ready"
    assert client.upscale(make_image((20, 10)), "1K")["status"] == "Succeed"
