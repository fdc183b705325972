"""`imagetune status`, run as an operator runs it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from imagetune import wiring
from imagetune.clock import utcnow
from imagetune.config import Settings
from imagetune.db.models import Job
from imagetune.jobs.models import NewJob, Scale
from tests.conftest import WorkerFactory
from tests.databases import fresh_postgres_database
from tests.factories import JobWorld
from tests.support import make_image, run_imagetune


def status(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IMAGETUNE_DATA_DIR": str(data_dir),
        "IMAGETUNE_DATABASE_URL": url,
        "COLUMNS": "200",
    }
    result = run_imagetune(["status", *args], env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def finished(world: JobWorld, job_id: uuid.UUID, run: float, ago: float, ok: bool) -> None:
    """Finish ``job_id`` ``ago`` seconds ago after running ``run`` seconds."""
    assert world.queue.claim("w") is not None
    if ok:
        world.states.succeed(job_id, [f"results/{job_id}.png"])
    else:
        world.states.fail(job_id, "The image could not be processed")
    end = utcnow() - timedelta(seconds=ago)
    with world.sessions.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                created_at=end - timedelta(seconds=run + 1),
                started_at=end - timedelta(seconds=run),
                finished_at=end,
            )
        )


@pytest.mark.slow
def test_status_reports_jobs_throughput_and_durations(database_url: str, tmp_path: Path) -> None:
    world = JobWorld(database_url)
    for run, ago in ((2.0, 30), (4.0, 60), (8.0, 30 * 60)):
        finished(world, world.submit(), run, ago, ok=True)
    finished(world, world.submit(), 1.0, 90, ok=False)
    world.submit()
    assert world.queue.claim("w") is not None  # one running
    world.submit(age_seconds=120)
    world.submit()

    report: dict[str, Any] = json.loads(status(tmp_path, database_url, "--json").stdout)
    assert report["jobs"] == {"queued": 2, "running": 1, "succeeded": 3, "failed": 1}
    assert 120 <= report["oldest_queued_seconds"] < 600
    last5, last60 = report["finished"]
    assert (last5["minutes"], last5["succeeded"], last5["failed"]) == (5, 2, 1)
    assert (last5["run_p50"], last5["run_p95"]) == (pytest.approx(2.0), pytest.approx(4.0))
    assert (last60["minutes"], last60["succeeded"], last60["failed"]) == (60, 3, 1)
    assert last60["run_p95"] == pytest.approx(8.0)
    assert last60["total_p50"] == pytest.approx(3.0)  # of [2, 3, 5, 9]: nearest rank
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert report["database"] == dialect
    assert report["workers"] == ([] if dialect == "postgresql" else None)

    table = status(tmp_path, database_url).stdout
    assert f"Jobs ({dialect})" in table
    assert "Finished jobs" in table
    assert "60 min" in table


@pytest.mark.slow
def test_status_lists_fleet_workers_with_their_heartbeat(
    worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    with fresh_postgres_database() as url:
        data = tmp_path / "data"
        gate = tmp_path / "gate"
        settings = Settings(data_dir=data, database_url=url)
        jobs = wiring.jobs(settings, wiring.database(settings))
        worker_factory(
            "status-host",
            data,
            concurrency=2,
            processor=f"gate:{gate}",
            IMAGETUNE_DATABASE_URL=url,
            IMAGETUNE_WORKER_HEARTBEAT_INTERVAL="1",
            IMAGETUNE_WORKER_STALL_TIMEOUT="4",
        )
        job_id = uuid.uuid4()
        wiring.storage(settings).write(f"originals/{job_id}", make_image())
        jobs.store.create(NewJob(job_id, _user(url), Scale.K1, f"originals/{job_id}"))
        deadline = time.monotonic() + 30
        while (job := jobs.store.get(job_id)) is None or job.started_at is None:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)

        report = json.loads(status(tmp_path, url, "--json").stdout)
        gate.touch()
        jobs.close()
    workers = report["workers"]
    # Two job workers and the host's webhook courier, each a Procrastinate worker; a host
    # name is known only for the one running a job.
    assert len(workers) == 3
    assert all(w["seconds_since"] < 30 for w in workers)
    assert sorted(str(w["host"]) for w in workers) == ["None", "None", "status-host"]
    assert report["jobs"]["running"] == 1


def _user(url: str) -> int:
    from imagetune.accounts import Accounts
    from imagetune.db.database import open_database

    database = open_database(url)
    try:
        return Accounts(database.sessions).create_user("fleet").id
    finally:
        database.close()
