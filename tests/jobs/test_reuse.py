"""Repeated requests reuse a user's earlier result: per user, switchable, and the shared
files kept until the last job using them expires."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from imagetune.clock import utcnow
from imagetune.db.models import Job
from imagetune.engine.base import OutputFormat
from imagetune.engine.models import ModelName
from imagetune.jobs.models import JobOptions, JobState, NewJob, Scale
from imagetune.jobs.retention import purge_expired
from imagetune.jobs.reuse import REUSE_MARGIN, fingerprint
from imagetune.jobs.states import Change, Transition
from imagetune.signing import UrlSigner
from imagetune.storage.local import LocalStorage
from tests.conftest import ClientFactory, ServiceFactory
from tests.factories import RETENTION, JobWorld
from tests.support import make_image

UPLOAD = b"the same bytes"


def test_the_fingerprint_changes_with_every_input_that_changes_the_result() -> None:
    base = fingerprint(sha256(UPLOAD).digest(), Scale.K2, JobOptions())
    assert base == fingerprint(sha256(UPLOAD).digest(), Scale.K2, JobOptions())
    variants = [
        fingerprint(sha256(UPLOAD + b"!").digest(), Scale.K2, JobOptions()),
        fingerprint(sha256(UPLOAD).digest(), Scale.K4, JobOptions()),
        fingerprint(sha256(UPLOAD).digest(), Scale.K2, JobOptions(model=ModelName.ANIME)),
        *(
            fingerprint(sha256(UPLOAD).digest(), Scale.K2, JobOptions(output_format=fmt))
            for fmt in OutputFormat
            if fmt is not OutputFormat.PNG
        ),
    ]
    assert len({base, *variants}) == 3 + len(OutputFormat)


def new_job(world: JobWorld, user_id: int | None = None, scale: Scale = Scale.K2) -> NewJob:
    job_id = uuid.uuid4()
    return NewJob(
        job_id,
        user_id or world.user_id,
        scale,
        f"originals/{job_id}",
        JobOptions(),
        fingerprint=fingerprint(sha256(UPLOAD).digest(), scale, JobOptions()),
    )


def succeeded(world: JobWorld, storage: LocalStorage) -> NewJob:
    """A job of the world's user that ran and succeeded, its files stored."""
    job = new_job(world)
    world.store.create(job)
    storage.write(job.original_key, UPLOAD)
    assert world.queue.claim("w") is not None
    storage.write(f"results/{job.id}.png", b"result")
    world.states.succeed(job.id, [f"results/{job.id}.png"])
    return job


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        tmp_path / "files", signer=UrlSigner(b"k" * 32), public_url="http://h", route="/files/"
    )


def test_a_repeat_succeeds_at_once_with_the_same_files_through_job_states(
    database_url: str, storage: LocalStorage
) -> None:
    world = JobWorld(database_url)
    seen: list[Transition] = []

    def observe(_session: Session, transitions: Sequence[Transition]) -> None:
        seen.extend(transitions)

    world.states.observe(observe)
    first = succeeded(world, storage)
    repeat = new_job(world)
    seen.clear()
    assert world.store.create_reusing(repeat)

    record = world.store.get(repeat.id)
    source = world.store.get(first.id)
    assert record is not None
    assert source is not None
    assert record.state is JobState.SUCCEEDED
    assert record.progress == 100
    assert record.started_at is None  # no worker ran it
    assert (record.original_key, record.result_keys) == (source.original_key, source.result_keys)
    assert record.expires_at is not None
    assert source.expires_at is not None
    assert record.expires_at > source.expires_at
    assert [t.change for t in seen] == [Change.QUEUED, Change.SUCCEEDED]
    assert world.queue.claim("w") is None  # nothing was queued for a worker


def test_no_reuse_across_users_options_or_near_expiry(
    database_url: str, storage: LocalStorage
) -> None:
    world = JobWorld(database_url)
    first = succeeded(world, storage)
    other_user = world.accounts.create_user("other").id
    assert not world.store.create_reusing(new_job(world, user_id=other_user))
    assert not world.store.create_reusing(new_job(world, scale=Scale.K4))
    with world.sessions.begin() as session:  # about to expire: the purger may be near
        session.execute(
            update(Job)
            .where(Job.id == first.id)
            .values(expires_at=utcnow() + REUSE_MARGIN - timedelta(seconds=5))
        )
    repeat = new_job(world)
    assert not world.store.create_reusing(repeat)
    assert world.store.get(repeat.id) is None  # nothing recorded


def test_shared_files_live_until_the_last_job_using_them_expires(
    database_url: str, storage: LocalStorage
) -> None:
    world = JobWorld(database_url)
    first = succeeded(world, storage)
    repeat = new_job(world)
    assert world.store.create_reusing(repeat)
    first_expiry = world.store.get(first.id).expires_at  # type: ignore[union-attr]
    repeat_expiry = world.store.get(repeat.id).expires_at  # type: ignore[union-attr]
    assert first_expiry is not None
    assert repeat_expiry is not None
    files = [first.original_key, f"results/{first.id}.png"]

    between = first_expiry + (repeat_expiry - first_expiry) / 2
    assert purge_expired(world.store, world.states, storage, now=between) == 1
    assert world.store.get(first.id).purged_at is not None  # type: ignore[union-attr]
    assert all(storage.exists(key) for key in files)  # still the repeat's

    after = repeat_expiry + timedelta(seconds=1)
    assert purge_expired(world.store, world.states, storage, now=after) == 1
    assert not any(storage.exists(key) for key in files)


def test_unshared_files_are_purged_as_before(database_url: str, storage: LocalStorage) -> None:
    world = JobWorld(database_url)
    only = succeeded(world, storage)
    later = utcnow() + RETENTION + timedelta(seconds=1)
    assert purge_expired(world.store, world.states, storage, now=later) == 1
    assert not storage.exists(only.original_key)
    assert not storage.exists(f"results/{only.id}.png")


# -- over the API, with workers that only finish a job once a gate file exists


@pytest.mark.parametrize("reuse", ["1", "0"])
def test_a_repeated_upload_skips_the_engine_only_for_the_same_user_and_options(
    service_factory: ServiceFactory, client_factory: ClientFactory, tmp_path: Path, reuse: str
) -> None:
    gate = tmp_path / "gate"
    service = service_factory(processor=f"gate:{gate}", IMAGETUNE_RESULT_REUSE=reuse)
    alice, bob = client_factory(service), client_factory(service)
    image = make_image((48, 32))
    gate.touch()
    first = alice.upscale(image, "1K")
    assert first["status"] == "Succeed"
    gate.unlink()  # from now on, a job that reaches a worker waits

    repeat_id = alice.submit(image, "1K").json()["job_id"]
    repeat = alice.job(repeat_id).json()
    if reuse == "0":
        assert repeat["status"] == "Pending"
    else:
        assert repeat["status"] == "Succeed"
        assert repeat["job_id"] != first["job_id"]
        assert repeat["started_at"] is None
        assert repeat["progress"] == 100
        assert repeat["image_urls"]
        result = alice.download(repeat["image_urls"][0])
        assert result.status_code == 200
        assert result.content == alice.download(first["image_urls"][0]).content

    assert bob.job(bob.submit(image, "1K").json()["job_id"]).json()["status"] == "Pending"
    assert alice.job(alice.submit(image, "2K").json()["job_id"]).json()["status"] == "Pending"
    gate.touch()  # let the waiting jobs end before the service stops
