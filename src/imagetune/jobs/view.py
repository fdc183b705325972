"""A job's public view: what GET /public/v1/job/{id} answers, and a webhook message's
``data``. One definition for both, built by ``job_view`` from a JobRecord."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from imagetune.engine.base import OutputFormat
from imagetune.engine.models import ModelName
from imagetune.jobs.models import JobRecord, JobState, PublicStatus, Scale
from imagetune.storage.base import Storage


class WebhookStatus(BaseModel):
    url: str = Field(description="The webhook URL, any query string removed.")
    events: list[str] = Field(description="The events it is called for: start, completed.")
    status: str | None = Field(
        default=None,
        description="The last message's delivery: pending (being delivered or retried), "
        "delivered or failed (given up, refused by the address rule, or 410); null before "
        "the first message.",
    )
    attempts: int = Field(default=0, description="Delivery attempts of the last message.")


class JobResponse(BaseModel):
    job_id: uuid.UUID
    status: PublicStatus = Field(
        description="Pending (queued or running), Succeed (done) or Failed; never moves back."
    )
    image_urls: list[str] = Field(
        description="Absolute, signed, expiring URLs of the results; [] unless Succeed, "
        "and [] again once the results have expired."
    )
    scale: Scale
    model: ModelName = Field(description="The model the job runs (see GET /public/v1/models).")
    output_format: OutputFormat
    progress: int = Field(ge=0, le=100, description="Percent done (100 once Succeed).")
    error: str | None = Field(default=None, description="Why the job Failed; null otherwise.")
    created_at: datetime
    started_at: datetime | None = Field(
        default=None, description="When a worker last started it; null while queued."
    )
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(
        default=None,
        description="When the original and results are deleted (their URLs stop working); "
        "null until the job finishes.",
    )
    webhook: WebhookStatus | None = Field(
        default=None, description="The job's webhook and how its delivery went; null if none."
    )


def result_urls(job: JobRecord, storage: Storage, ttl: int, now: datetime) -> list[str]:
    """Fresh signed URLs of a succeeded job's results; [] once they are deleted."""
    if job.state is not JobState.SUCCEEDED or job.purged_at is not None or not job.expires_at:
        return []
    # A link never outlives the file it points to.
    left = int((job.expires_at - now).total_seconds())
    ttl = min(ttl, left)
    return [storage.url(key, ttl) for key in job.result_keys] if ttl > 0 else []


def job_view(
    job: JobRecord,
    storage: Storage,
    result_url_ttl: int,
    webhook: WebhookStatus | None = None,
    *,
    now: datetime,
) -> JobResponse:
    return JobResponse(
        job_id=job.id,
        status=job.state.public,
        image_urls=result_urls(job, storage, result_url_ttl, now),
        scale=job.scale,
        model=job.options.model,
        output_format=job.options.output_format,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        webhook=webhook,
    )
