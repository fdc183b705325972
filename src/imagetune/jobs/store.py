"""The job store: reading job records, and recording new jobs with their queue entry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagetune.db.models import IdempotencyKey, Job, JobWebhook, utcnow
from imagetune.jobs.models import JobRecord, NewJob
from imagetune.jobs.states import UNFINISHED, JobStates, to_record

Dispatch = Callable[[Session, uuid.UUID], None]
"""Hands a new job to the queue inside the transaction that records it (JobQueue.dispatch)."""


class JobStore:
    def __init__(self, states: JobStates, dispatch: Dispatch) -> None:
        self._states = states
        self._sessions = states.sessions
        self._dispatch = dispatch

    def create(self, job: NewJob) -> None:
        """Record a new job; once this returns the job is durable and will be run."""
        with self._sessions.begin() as session:
            # One transaction: never a job without a queue entry, or the reverse.
            self._states.create(session, job)
            if job.webhook_url is not None:
                session.add(
                    JobWebhook(job_id=job.id, url=job.webhook_url, events=job.webhook_events)
                )
                session.flush()
            if job.idempotency_key is not None:
                # After the job (its foreign key). A second job for the same (user, key)
                # fails on this row's primary key and the whole transaction rolls back.
                session.add(
                    IdempotencyKey(
                        user_id=job.user_id,
                        key=job.idempotency_key,
                        request_hash=job.request_hash or "",
                        job_id=job.id,
                        created_at=utcnow(),
                    )
                )
                session.flush()
            self._dispatch(session, job.id)

    def get(self, job_id: uuid.UUID) -> JobRecord | None:
        with self._sessions() as session:
            job = session.get(Job, job_id)
            return None if job is None else to_record(job)

    def count_unfinished(self, user_id: int | None) -> int:
        """Pending jobs of ``user_id``, or of everyone when None."""
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
