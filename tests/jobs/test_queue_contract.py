"""The JobQueue contract, run against both queues: the embedded queue on SQLite and the
fleet queue (Procrastinate) on PostgreSQL. Only the protocol's methods are used."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagetune.jobs.models import JobRecord, JobState
from imagetune.jobs.queue import JobQueue
from imagetune.jobs.states import NOTHING_RELEASED
from tests.databases import fresh_postgres_database
from tests.factories import JobWorld
from tests.jobs.test_fleet_queue import FleetWorld

TIMEOUT = 30.0


@pytest.fixture(params=["embedded", "fleet"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobWorld]:
    if request.param == "embedded":
        yield JobWorld(f"sqlite:///{tmp_path / 'jobs.db'}")
        return
    with fresh_postgres_database() as url:
        fleet = FleetWorld(url)
        yield fleet
        fleet.sessions.kw["bind"].dispose()


class Consumer:
    """``queue.consume`` in a thread, as a worker process runs it."""

    def __init__(
        self, queue: JobQueue, worker_id: str, handle: Callable[[JobRecord], None]
    ) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=queue.consume, args=(worker_id, handle, self.stop), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "consume did not return after stop"


def succeed_all(world: JobWorld, seen: list[uuid.UUID], lock: threading.Lock) -> Callable:
    def handle(job: JobRecord) -> None:
        assert job.state is JobState.RUNNING
        with lock:
            seen.append(job.id)
        world.states.succeed(job.id, [f"results/{job.id}.png"])

    return handle


def wait_for(condition: Callable[[], bool], what: str) -> None:
    done = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=TIMEOUT)
    while not condition():
        assert datetime.now(UTC) < deadline, f"timed out waiting for {what}"
        done.wait(0.05)


def test_every_job_is_run_once(world: JobWorld) -> None:
    submitted = [world.submit() for _ in range(6)]
    seen: list[uuid.UUID] = []
    consumer = Consumer(world.queue, "host:1", succeed_all(world, seen, threading.Lock()))
    try:
        wait_for(lambda: len(seen) >= len(submitted), "every job to run")
    finally:
        consumer.close()
    assert sorted(seen) == sorted(submitted)
    assert {world.store.get(j).state for j in submitted} == {JobState.SUCCEEDED}  # type: ignore[union-attr]


def test_two_consumers_never_share_a_job(world: JobWorld) -> None:
    submitted = [world.submit() for _ in range(20)]
    seen: list[uuid.UUID] = []
    lock = threading.Lock()
    consumers = [Consumer(world.queue, f"host:{n}", succeed_all(world, seen, lock)) for n in (1, 2)]
    try:
        wait_for(lambda: len(seen) >= len(submitted), "every job to run")
    finally:
        for consumer in consumers:
            consumer.close()
    assert sorted(seen) == sorted(submitted)


def test_stop_lets_the_job_in_hand_finish(world: JobWorld) -> None:
    job_id = world.submit()
    started, finish = threading.Event(), threading.Event()

    def handle(job: JobRecord) -> None:
        started.set()
        assert finish.wait(TIMEOUT)
        world.states.succeed(job.id, ["results/x.png"])

    consumer = Consumer(world.queue, "host:1", handle)
    assert started.wait(TIMEOUT)
    consumer.stop.set()
    finish.set()
    consumer.close()
    assert world.store.get(job_id).state is JobState.SUCCEEDED  # type: ignore[union-attr]


def test_overdue_jobs_fail_only_for_the_named_workers(world: JobWorld) -> None:
    job_id = world.submit()
    started, finish = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def handle(job: JobRecord) -> None:
        started.set()
        assert finish.wait(TIMEOUT)
        outcome.append(world.states.succeed(job.id, ["results/late.png"]))

    consumer = Consumer(world.queue, "host:1", handle)
    try:
        assert started.wait(TIMEOUT)
        future = datetime.now(UTC) + timedelta(seconds=1)
        assert world.queue.fail_overdue(future, "too slow", ["host:2"]) == []
        assert world.queue.fail_overdue(future, "too slow", ["host:1"]) == ["host:1"]
    finally:
        finish.set()
        consumer.close()
    job = world.store.get(job_id)
    assert job is not None
    # The worker's late success changes nothing: the job stays Failed.
    assert outcome == [False]
    assert (job.state, job.error, job.result_keys) == (JobState.FAILED, "too slow", [])


def test_nothing_to_take_back_when_no_worker_was_lost(world: JobWorld) -> None:
    world.submit()
    assert world.queue.release("nobody", count_attempt=True) == NOTHING_RELEASED
    assert world.queue.sweep_stalled() == NOTHING_RELEASED
    assert world.queue.recover() == NOTHING_RELEASED
