from __future__ import annotations

import threading

import pytest

from imagetune.db.engine import make_engine, make_sessionmaker
from imagetune.jobs.models import JobState
from imagetune.jobs.queue import SqlJobQueue
from tests.factories import RETENTION, JobWorld


@pytest.fixture
def world(database_url: str) -> JobWorld:
    return JobWorld(database_url)


def test_claims_oldest_first(world: JobWorld) -> None:
    newest = world.submit()
    oldest = world.submit(age_seconds=60)
    middle = world.submit(age_seconds=30)
    claimed = [world.queue.claim("w") for _ in range(4)]
    assert [j.id if j else None for j in claimed] == [oldest, middle, newest, None]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in claimed if j)


def test_concurrent_claims_never_share_a_job(world: JobWorld) -> None:
    submitted = {world.submit() for _ in range(60)}
    claimed: list[object] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        # Each thread its own engine and connections, like separate worker processes.
        engine = make_engine(world.url)
        queue = SqlJobQueue(make_sessionmaker(engine), max_attempts=3, retention=RETENTION)
        while (job := queue.claim(name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, claimed)) == sorted(map(str, submitted))


def test_finished_job_never_changes_again(world: JobWorld) -> None:
    job_id = world.submit()
    world.queue.claim("w")
    assert world.store.mark_succeeded(job_id, ["results/x.png"])
    assert not world.store.mark_failed(job_id, "late failure")
    assert not world.store.mark_succeeded(job_id, ["results/y.png"])
    job = world.store.get(job_id)
    assert job is not None
    assert (job.state, job.result_keys, job.error) == (JobState.SUCCEEDED, ["results/x.png"], None)
    released = world.queue.release(None, count_attempt=True)
    assert released.requeued == released.failed == 0


def test_clean_release_does_not_use_up_an_attempt(world: JobWorld) -> None:
    job_id = world.submit()
    for _ in range(5):
        assert world.queue.claim("w") is not None
        world.queue.release("w", count_attempt=False)
    job = world.store.get(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.started_at) == (JobState.QUEUED, 0, None)


def test_lost_worker_jobs_fail_after_max_attempts(world: JobWorld) -> None:
    job_id = world.submit()
    for attempt in (1, 2):
        claimed = world.queue.claim("w")
        assert claimed is not None
        assert claimed.attempts == attempt
        assert world.queue.release("w", count_attempt=True).requeued == 1
    assert world.queue.claim("w") is not None
    released = world.queue.release("w", count_attempt=True)
    assert (released.requeued, released.failed) == (0, 1)
    job = world.store.get(job_id)
    assert job is not None
    assert job.state is JobState.FAILED
    assert job.error is not None
    assert "3 times" in job.error
    assert world.queue.claim("w") is None


def test_release_only_touches_the_named_worker(world: JobWorld) -> None:
    first, second = world.submit(age_seconds=2), world.submit()
    world.queue.claim("a")
    world.queue.claim("b")
    world.queue.release("a", count_attempt=True)
    states = {j: world.store.get(j).state for j in (first, second)}  # type: ignore[union-attr]
    assert states == {first: JobState.QUEUED, second: JobState.RUNNING}


def test_progress_is_clamped_and_only_for_running_jobs(world: JobWorld) -> None:
    job_id = world.submit()
    world.store.set_progress(job_id, 50)
    assert world.store.get(job_id).progress == 0  # type: ignore[union-attr]
    world.queue.claim("w")
    world.store.set_progress(job_id, 150)
    assert world.store.get(job_id).progress == 100  # type: ignore[union-attr]
