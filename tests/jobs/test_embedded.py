"""The embedded queue: the jobs table polled by one host's workers."""

from __future__ import annotations

import threading

import pytest

from imagetune.db.database import open_database
from imagetune.jobs.embedded import EmbeddedQueue
from imagetune.jobs.models import JobState
from imagetune.jobs.states import JobStates
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
        sessions = open_database(world.url, migrate=False).sessions
        states = JobStates(sessions, retention=RETENTION, max_attempts=3)
        queue = EmbeddedQueue(states, poll_interval=0.05)
        while (job := queue.claim(name)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, claimed)) == sorted(map(str, submitted))
