"""A job record's one serialisation (what a webhook message snapshots)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from imagetune.engine.base import OutputFormat
from imagetune.engine.models import ModelName
from imagetune.jobs.models import JobOptions, JobRecord, JobState, Scale

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def record(**changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": 7,
        "state": JobState.SUCCEEDED,
        "scale": Scale.K2,
        "options": JobOptions(model=ModelName.ANIME, output_format=OutputFormat.WEBP),
        "original_key": "originals/x",
        "result_keys": ["results/x.webp"],
        "error": None,
        "attempts": 1,
        "progress": 100,
        "created_at": CREATED,
        "started_at": CREATED,
        "finished_at": CREATED,
        "expires_at": CREATED,
        "request_id": "req-1",
    }
    return JobRecord(**{**fields, **changes})


def test_every_field_survives_its_json() -> None:
    job = record()
    assert JobRecord.from_json(job.to_json()) == job
    assert job.to_json()["options"]["output_format"] == "webp"


def test_a_snapshot_written_before_a_field_existed_still_reads() -> None:
    # What the outbox wrote before snapshots were JobRecord.to_json (no id, purged_at or
    # request_id); the outbox adds the id from the message.
    job_id = uuid.uuid4()
    old = {
        "user_id": 7,
        "state": "failed",
        "scale": "1K",
        "options": {"model": "photo"},
        "original_key": "originals/y",
        "result_keys": [],
        "error": "The image could not be processed",
        "attempts": 3,
        "progress": 0,
        "created_at": CREATED.isoformat(),
        "started_at": None,
        "finished_at": CREATED.isoformat(),
        "expires_at": None,
    }
    job = JobRecord.from_json({**old, "id": job_id})
    assert (job.id, job.state, job.scale, job.created_at) == (
        job_id,
        JobState.FAILED,
        Scale.K1,
        CREATED,
    )
    assert job.options == JobOptions()
    assert (job.purged_at, job.request_id) == (None, None)
