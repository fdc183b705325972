"""The job store: job records in the relational database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.db.models import IdempotencyKey, Job, utcnow
from imagetune.jobs.models import JobRecord, JobState, NewJob, Scale

UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)
MAX_ERROR_LENGTH = 1000


class JobStore(Protocol):
    def create(self, job: NewJob) -> None:
        """Record a new job; once this returns the job is durable and will be run."""

    def get(self, job_id: uuid.UUID) -> JobRecord | None: ...

    def set_progress(self, job_id: uuid.UUID, percent: int) -> None: ...

    def mark_succeeded(self, job_id: uuid.UUID, result_keys: list[str]) -> bool:
        """Finish an unfinished job with results; False when it had already finished."""

    def mark_failed(self, job_id: uuid.UUID, error: str) -> bool:
        """Finish an unfinished job as failed; False when it had already finished."""

    def count_unfinished(self, user_id: int | None) -> int:
        """Pending jobs of ``user_id``, or of everyone when None."""

    def expired(self, now: datetime, limit: int = 500) -> list[JobRecord]:
        """Finished jobs whose files are due for deletion and not deleted yet."""

    def mark_purged(self, job_id: uuid.UUID) -> None: ...


def to_record(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        user_id=job.user_id,
        state=JobState(job.state),
        scale=Scale(job.scale),
        options=dict(job.options),
        original_key=job.original_key,
        result_keys=list(job.result_keys),
        error=job.error,
        attempts=job.attempts,
        progress=job.progress,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        purged_at=job.purged_at,
    )


Dispatch = Callable[[Session, uuid.UUID], None]
"""Hands a new job to the queue inside the transaction that records it (JobQueue.dispatch)."""


class SqlJobStore:
    """Job records in SQL."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        retention: timedelta,
        dispatch: Dispatch | None = None,
    ) -> None:
        self._sessions = sessions
        self._retention = retention
        self._dispatch = dispatch

    def create(self, job: NewJob) -> None:
        with self._sessions.begin() as session:
            session.add(
                Job(
                    id=job.id,
                    user_id=job.user_id,
                    state=JobState.QUEUED.value,
                    scale=job.scale.value,
                    options=job.options,
                    original_key=job.original_key,
                    result_keys=[],
                    attempts=0,
                    progress=0,
                    created_at=utcnow(),
                )
            )
            if job.idempotency_key is not None:
                # After the job (its foreign key). A second job for the same (user, key)
                # fails on this row's primary key and the whole transaction rolls back.
                session.flush()
                session.add(
                    IdempotencyKey(
                        user_id=job.user_id,
                        key=job.idempotency_key,
                        request_hash=job.request_hash or "",
                        job_id=job.id,
                        created_at=utcnow(),
                    )
                )
            if self._dispatch:
                # One transaction: never a job without a queue entry, or the reverse.
                session.flush()
                self._dispatch(session, job.id)

    def get(self, job_id: uuid.UUID) -> JobRecord | None:
        with self._sessions() as session:
            job = session.get(Job, job_id)
            return None if job is None else to_record(job)

    def set_progress(self, job_id: uuid.UUID, percent: int) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.RUNNING.value)
                .values(progress=max(0, min(100, percent)))
            )

    def mark_succeeded(self, job_id: uuid.UUID, result_keys: list[str]) -> bool:
        return self._finish(
            job_id, state=JobState.SUCCEEDED, result_keys=result_keys, error=None, progress=100
        )

    def mark_failed(self, job_id: uuid.UUID, error: str) -> bool:
        return self._finish(job_id, state=JobState.FAILED, error=error[:MAX_ERROR_LENGTH])

    def count_unfinished(self, user_id: int | None) -> int:
        query = select(func.count()).select_from(Job).where(Job.state.in_(UNFINISHED))
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def expired(self, now: datetime, limit: int = 500) -> list[JobRecord]:
        """Finished jobs whose files are due for deletion and not deleted yet."""
        with self._sessions() as session:
            jobs = session.scalars(
                select(Job)
                .where(Job.expires_at <= now, Job.purged_at.is_(None))
                .order_by(Job.expires_at)
                .limit(limit)
            ).all()
            return [to_record(job) for job in jobs]

    def mark_purged(self, job_id: uuid.UUID) -> None:
        with self._sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(purged_at=utcnow()))

    def _finish(self, job_id: uuid.UUID, **values: object) -> bool:
        # The state guard makes finishing idempotent: a job that already finished (say, run
        # twice after a worker was presumed dead) never changes again.
        now = utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(UNFINISHED))
                .values(
                    finished_at=now,
                    expires_at=now + self._retention,
                    worker_id=None,
                    **{k: (v.value if isinstance(v, JobState) else v) for k, v in values.items()},
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
