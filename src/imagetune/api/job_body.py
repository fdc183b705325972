"""The job body: what GET /public/v1/job/{id} answers, and a webhook message's ``data``.
One definition for both."""

from __future__ import annotations

from datetime import datetime

from imagetune.api.schemas import JobResponse, WebhookStatus
from imagetune.jobs.models import JobRecord, JobState
from imagetune.storage.base import Storage


def result_urls(job: JobRecord, storage: Storage, ttl: int, now: datetime) -> list[str]:
    """Fresh signed URLs of a succeeded job's results; [] once they are deleted."""
    if job.state is not JobState.SUCCEEDED or job.purged_at is not None or not job.expires_at:
        return []
    # A link never outlives the file it points to.
    left = int((job.expires_at - now).total_seconds())
    ttl = min(ttl, left)
    return [storage.url(key, ttl) for key in job.result_keys] if ttl > 0 else []


def job_body(
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
