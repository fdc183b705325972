"""The fleet queue (Procrastinate on a real PostgreSQL database), driven in-process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import procrastinate
import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from imagetune.db.models import Job
from imagetune.engine.models import ModelName
from imagetune.jobs.fleet import QUEUE_NAME, FleetQueue, libpq_conninfo
from imagetune.jobs.models import JobOptions, JobState, NewJob, Scale
from imagetune.jobs.states import Released
from imagetune.jobs.store import JobStore
from imagetune.jobs.worker import Worker
from imagetune.signing import UrlSigner
from imagetune.storage.local import LocalStorage
from tests.databases import fresh_postgres_database
from tests.factories import JobWorld
from tests.processors import TimedProcessor
from tests.support import make_image


class FleetWorld(JobWorld):
    """A PostgreSQL database with one user, a fleet queue and a store that dispatches to it."""

    def __init__(self, url: str, max_attempts: int = 3) -> None:
        super().__init__(url, max_attempts)
        self.fleet = FleetQueue(
            self.states, database_url=url, heartbeat_interval=1, stall_timeout=3
        )
        self.queue = self.fleet  # type: ignore[assignment]
        self.store = JobStore(self.states, self.fleet.dispatch)

    def entries(self) -> list[dict[str, Any]]:
        """Procrastinate's queue entries."""
        with self.sessions() as session:
            rows = session.execute(
                text("SELECT id, status, lock, args, worker_id FROM procrastinate_jobs ORDER BY id")
            )
            return [dict(row._mapping) for row in rows]

    def fetch_as_new_worker(self) -> int:
        """What a Procrastinate worker does: register, then take the next entry; its id."""

        async def fetch() -> int:
            connector = procrastinate.PsycopgConnector(conninfo=libpq_conninfo(self.url))
            async with procrastinate.App(connector=connector).open_async() as app:
                worker_id = await app.job_manager.register_worker()
                job = await app.job_manager.fetch_job(queues=[QUEUE_NAME], worker_id=worker_id)
                assert job is not None
                return worker_id

        return asyncio.run(fetch())

    def silence(self, worker_id: int, seconds: int = 3600) -> None:
        """As if the worker stopped sending heartbeats ``seconds`` ago."""
        with self.sessions.begin() as session:
            session.execute(
                text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - "
                    "make_interval(secs => :seconds) WHERE id = :id"
                ),
                {"seconds": seconds, "id": worker_id},
            )

    def state(self, job_id: uuid.UUID) -> JobState:
        record = self.store.get(job_id)
        assert record is not None
        return record.state


@pytest.fixture
def fleet() -> Iterator[FleetWorld]:
    with fresh_postgres_database() as url:
        world = FleetWorld(url)
        yield world
        world.sessions.kw["bind"].dispose()


def test_a_job_and_its_queue_entry_are_committed_together(fleet: FleetWorld) -> None:
    job_id = fleet.submit()
    [entry] = fleet.entries()
    assert entry["status"] == "todo"
    assert entry["lock"] == str(job_id)
    assert entry["args"] == {"job_id": str(job_id)}


def test_a_rolled_back_submission_leaves_neither(fleet: FleetWorld) -> None:
    def dispatch_then_fail(
        session: Session, job_id: uuid.UUID, not_before: datetime | None
    ) -> None:
        fleet.fleet.dispatch(session, job_id, not_before)
        raise RuntimeError("the request failed after the entry was deferred")

    store = JobStore(fleet.states, dispatch_then_fail)
    job_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        store.create(NewJob(job_id, fleet.user_id, Scale.K1, f"originals/{job_id}"))
    assert fleet.store.get(job_id) is None
    assert fleet.entries() == []


def test_repeated_delivery_does_nothing_and_status_never_moves_back(fleet: FleetWorld) -> None:
    job_id = fleet.submit()
    assert fleet.fleet.claim("host-a:1", job_id) is not None
    assert fleet.states.succeed(job_id, [f"results/{job_id}.png"])
    finished = fleet.store.get(job_id)

    assert fleet.fleet.claim("host-b:1", job_id) is None
    assert fleet.store.get(job_id) == finished
    assert not fleet.states.fail(job_id, "late failure from a presumed-dead worker")
    assert fleet.state(job_id) is JobState.SUCCEEDED


def test_a_job_run_twice_yields_one_result(fleet: FleetWorld, tmp_path: Path) -> None:
    storage = LocalStorage(
        tmp_path / "files", signer=UrlSigner(b"k" * 32), public_url="http://x", route="/files/"
    )
    job_id = uuid.uuid4()
    storage.write(f"originals/{job_id}", make_image((40, 30)))
    fleet.store.create(
        NewJob(
            job_id,
            fleet.user_id,
            Scale.K1,
            f"originals/{job_id}",
            JobOptions(model=ModelName.CLASSIC),
        )
    )
    worker = Worker(
        states=fleet.states, store=fleet.store, storage=storage, processor=TimedProcessor()
    )
    # A worker presumed dead (host-a) and the one that took over (host-b) both finish.
    first = fleet.fleet.claim("host-a:1", job_id)
    second = fleet.fleet.claim("host-b:1", job_id)
    assert first is not None
    assert second is not None
    worker.execute(second)
    done = fleet.store.get(job_id)
    worker.execute(first)

    assert fleet.store.get(job_id) == done
    assert done is not None
    assert done.state is JobState.SUCCEEDED
    assert done.result_keys == [f"results/{job_id}.png"]
    assert sorted(p.name for p in (tmp_path / "files" / "results").iterdir()) == [f"{job_id}.png"]


def test_a_lost_workers_job_goes_back_to_the_queue(fleet: FleetWorld) -> None:
    job_id = fleet.submit()
    fleet.fetch_as_new_worker()
    fleet.fleet.claim("host-a:1", job_id)

    assert fleet.fleet.release("host-a:1", count_attempt=True) == Released(1, 0)
    assert fleet.state(job_id) is JobState.QUEUED
    assert [entry["status"] for entry in fleet.entries()] == ["todo"]


def test_sweep_takes_back_only_jobs_of_silent_workers(fleet: FleetWorld) -> None:
    quiet_job, live_job = fleet.submit(), fleet.submit()
    quiet = fleet.fetch_as_new_worker()
    fleet.fleet.claim("host-a:1", quiet_job)
    fleet.fetch_as_new_worker()
    fleet.fleet.claim("host-b:1", live_job)
    fleet.silence(quiet)

    assert fleet.fleet.sweep_stalled() == Released(1, 0)
    assert fleet.state(quiet_job) is JobState.QUEUED
    assert fleet.state(live_job) is JobState.RUNNING
    assert [entry["status"] for entry in fleet.entries()] == ["todo", "doing"]
    # Another host's sweeper, a moment later, finds nothing left to do.
    assert fleet.fleet.sweep_stalled() == Released(0, 0)


def test_sweep_fails_a_job_that_used_up_its_attempts(fleet: FleetWorld) -> None:
    job_id = fleet.submit()
    with fleet.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(attempts=2))
    worker = fleet.fetch_as_new_worker()
    fleet.fleet.claim("host-a:1", job_id)  # the third attempt
    fleet.silence(worker)

    assert fleet.fleet.sweep_stalled() == Released(0, 1)
    record = fleet.store.get(job_id)
    assert record is not None
    assert record.state is JobState.FAILED
    assert record.error is not None
    assert "interrupted 3 times" in record.error


def test_time_limit_only_touches_the_supervisors_own_workers(fleet: FleetWorld) -> None:
    mine, theirs = fleet.submit(), fleet.submit()
    fleet.fleet.claim("host-a:1", mine)
    fleet.fleet.claim("host-b:1", theirs)
    # Both are past the limit; host-a's supervisor may only fail its own worker's job.
    overdue = fleet.fleet.fail_overdue(
        started_before=datetime.now(UTC) + timedelta(seconds=1),
        error="too slow",
        worker_ids=["host-a:1"],
    )
    assert overdue == ["host-a:1"]
    assert fleet.state(mine) is JobState.FAILED
    assert fleet.state(theirs) is JobState.RUNNING
