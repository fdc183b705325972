"""JobStates, the one owner of job state, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagetune.db.models import Job
from imagetune.jobs.models import JobState
from imagetune.jobs.states import Change, Transition
from tests.factories import JobWorld


@pytest.fixture
def world(database_url: str) -> JobWorld:
    return JobWorld(database_url)


def test_finished_job_never_changes_again(world: JobWorld) -> None:
    job_id = world.submit()
    world.queue.claim("w")
    assert world.states.succeed(job_id, ["results/x.png"])
    assert not world.states.fail(job_id, "late failure")
    assert not world.states.succeed(job_id, ["results/y.png"])
    job = world.store.get(job_id)
    assert job is not None
    assert (job.state, job.result_keys, job.error) == (JobState.SUCCEEDED, ["results/x.png"], None)
    released = world.queue.release("w", count_attempt=True)
    assert released.requeued == released.failed == 0
    assert world.queue.recover().requeued == 0


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
    world.states.set_progress(job_id, 50)
    assert world.store.get(job_id).progress == 0  # type: ignore[union-attr]
    world.queue.claim("w")
    world.states.set_progress(job_id, 150)
    assert world.store.get(job_id).progress == 100  # type: ignore[union-attr]


def test_observers_see_every_transition_inside_its_transaction(world: JobWorld) -> None:
    seen: list[tuple[Change, str]] = []

    def observer(session: Session, transitions: Sequence[Transition]) -> None:
        for transition in transitions:
            # Inside the transaction: the row already shows the new state.
            state = session.scalar(select(Job.state).where(Job.id == transition.job_id))
            seen.append((transition.change, str(state)))

    world.states.observe(observer)
    done, lost = world.submit(age_seconds=2), world.submit()
    world.queue.claim("w")
    world.states.succeed(done, ["results/x.png"])
    world.queue.claim("v")
    world.queue.release("v", count_attempt=True)
    world.queue.claim("v")
    world.states.fail(lost, "The image could not be processed")
    world.states.fail(lost, "a second, late failure changes nothing")
    assert seen == [
        (Change.QUEUED, "queued"),
        (Change.QUEUED, "queued"),
        (Change.STARTED, "running"),
        (Change.SUCCEEDED, "succeeded"),
        (Change.STARTED, "running"),
        (Change.REQUEUED, "queued"),
        (Change.STARTED, "running"),
        (Change.FAILED, "failed"),
    ]


def test_a_failing_observer_rolls_the_transition_back(world: JobWorld) -> None:
    job_id = world.submit()
    world.queue.claim("w")

    def broken(session: Session, transitions: Sequence[Transition]) -> None:
        raise RuntimeError("the outbox is full")

    world.states.observe(broken)
    with pytest.raises(RuntimeError):
        world.states.succeed(job_id, ["results/x.png"])
    job = world.store.get(job_id)
    assert job is not None
    assert (job.state, job.result_keys, job.finished_at) == (JobState.RUNNING, [], None)


def test_finishing_sets_expiry_and_clears_the_worker(world: JobWorld) -> None:
    job_id = world.submit()
    world.queue.claim("w")
    world.states.fail(job_id, "x" * 5000)
    job = world.store.get(job_id)
    assert job is not None
    assert job.finished_at is not None
    assert job.expires_at == job.finished_at + world.states.retention
    assert job.error == "x" * 1000
    with world.sessions() as session:
        assert session.scalar(select(Job.worker_id).where(Job.id == job_id)) is None
