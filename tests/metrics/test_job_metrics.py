"""The JobStates observer counts a change only once its transaction commits."""

from __future__ import annotations

import uuid

import pytest

from imagetune.jobs.models import NewJob, Scale
from imagetune.metrics import instruments, multiprocess
from imagetune.metrics.jobs import JobMetrics
from tests.factories import JobWorld


def submitted() -> float:
    return instruments.get().jobs_submitted.labels("photo", "1K")._value.get()


def test_counted_after_commit_not_after_rollback(database_url: str) -> None:
    multiprocess.use_private_directory()
    world = JobWorld(database_url)
    world.states.observe(JobMetrics(world.sessions))
    before = submitted()
    world.submit()
    assert submitted() == before + 1

    job_id = uuid.uuid4()

    def create_then_fail() -> None:
        with world.sessions.begin() as session:
            world.states.create(session, NewJob(job_id, world.user_id, Scale.K1, "originals/x"))
            raise RuntimeError("the queue refused it")

    with pytest.raises(RuntimeError):
        create_then_fail()
    assert world.store.get(job_id) is None
    assert submitted() == before + 1
    world.submit()
    assert submitted() == before + 2
