"""Faults of the infrastructure during a job: handed back and retried within the retry
window, never blamed on the image; originals no job refers to are swept."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError

from imagetune.db.models import Job, utcnow
from imagetune.errors import ORIGINAL_UNREADABLE, RESULT_NOT_STORED, transient
from imagetune.jobs.models import JobState
from imagetune.jobs.retention import ORPHAN_AGE, purge_orphans
from imagetune.jobs.worker import Worker
from imagetune.signing import UrlSigner
from imagetune.storage.base import StorageFull, StorageUnavailable
from imagetune.storage.local import LocalStorage
from tests.factories import JobWorld
from tests.processors import TimedProcessor
from tests.support import make_image


class FlakyStorage(LocalStorage):
    """Local files, with a fault on reads or writes while ``fault`` is set."""

    fault: tuple[str, Exception] | None = None

    def read(self, key: str) -> bytes:
        if self.fault and self.fault[0] == "read":
            raise self.fault[1]
        return super().read(key)

    def write(self, key: str, data: bytes) -> None:
        if self.fault and self.fault[0] == "write" and key.startswith("results/"):
            raise self.fault[1]
        super().write(key, data)


@pytest.fixture
def world(tmp_path: Path) -> JobWorld:
    return JobWorld(f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.fixture
def storage(tmp_path: Path) -> FlakyStorage:
    return FlakyStorage(
        tmp_path / "files", signer=UrlSigner(b"k" * 32), public_url="http://h", route="/files/"
    )


def submit(world: JobWorld, storage: FlakyStorage) -> uuid.UUID:
    job_id = world.submit()
    storage.write(f"originals/{job_id}", make_image((40, 30)))
    return job_id


def run_one(world: JobWorld, storage: FlakyStorage) -> None:
    job = world.queue.claim("w")
    assert job is not None
    Worker(
        states=world.states, store=world.store, storage=storage, processor=TimedProcessor()
    ).execute(job)


def make_due(world: JobWorld, job_id: uuid.UUID, faulted_ago: timedelta = timedelta()) -> None:
    """As if the job's wait were over (and its first fault ``faulted_ago``)."""
    with world.sessions.begin() as session:
        values = {"retry_at": utcnow()}
        if faulted_ago:
            values["faulted_at"] = utcnow() - faulted_ago
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def test_a_storage_fault_hands_the_job_back_and_it_succeeds_once_cleared(
    world: JobWorld, storage: FlakyStorage
) -> None:
    job_id = submit(world, storage)
    storage.fault = ("write", StorageFull("no space left"))
    for _ in range(4):  # more faults than attempts: they are not the job's
        run_one(world, storage)
        job = world.store.get(job_id)
        assert job is not None
        assert (job.state, job.attempts, job.error) == (JobState.QUEUED, 0, None)
        assert world.queue.claim("other") is None  # it waits out its back-off
        make_due(world, job_id)
    storage.fault = None
    run_one(world, storage)
    done = world.store.get(job_id)
    assert done is not None
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 1)
    assert storage.exists(done.result_keys[0])


@pytest.mark.parametrize(
    ("step", "error"), [("read", ORIGINAL_UNREADABLE), ("write", RESULT_NOT_STORED)]
)
def test_past_the_retry_window_the_job_fails_naming_the_cause(
    world: JobWorld, storage: FlakyStorage, step: str, error: str
) -> None:
    job_id = submit(world, storage)
    storage.fault = (step, StorageUnavailable("connection refused"))
    run_one(world, storage)
    make_due(world, job_id, faulted_ago=world.states.retry_window)
    run_one(world, storage)
    job = world.store.get(job_id)
    assert job is not None
    assert (job.state, job.error) == (JobState.FAILED, error)


def test_finishing_is_retried_while_the_database_is_away(
    world: JobWorld, storage: FlakyStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(world, storage)
    succeed = world.states.succeed
    outage = [OperationalError("UPDATE jobs", {}, Exception("server closed the connection"))] * 2

    def flaky_succeed(job: uuid.UUID, keys: list[str]) -> bool:
        if outage:
            raise outage.pop()
        return succeed(job, keys)

    monkeypatch.setattr(world.states, "succeed", flaky_succeed)
    monkeypatch.setattr(time, "sleep", lambda _: None)  # the back-off, not the clock
    run_one(world, storage)
    assert world.store.get(job_id).state is JobState.SUCCEEDED  # type: ignore[union-attr]


def test_transient_faults_are_told_from_bugs() -> None:
    assert transient(OperationalError("SELECT 1", {}, Exception("connection refused")))
    assert transient(StorageFull("disk full"))
    assert not transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not transient(FileNotFoundError("originals/x"))
    assert not transient(ValueError("a bug"))


def test_originals_no_job_refers_to_are_swept_once_old(
    world: JobWorld, storage: FlakyStorage
) -> None:
    kept = submit(world, storage)
    orphan, recent = f"originals/{uuid.uuid4()}", f"originals/{uuid.uuid4()}"
    storage.write(orphan, b"left by a crash between write and record")
    storage.write(recent, b"being recorded right now")
    old = time.time() - ORPHAN_AGE.total_seconds() - 60
    for key in (f"originals/{kept}", orphan):
        os.utime(storage.path(key), (old, old))
    assert purge_orphans(world.store, storage, utcnow()) == 1
    assert not storage.exists(orphan)
    assert storage.exists(f"originals/{kept}")
    assert storage.exists(recent)
