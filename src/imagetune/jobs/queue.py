"""The queue workers take jobs from, oldest first.

The embedded queue is the jobs table itself: claiming is one atomic UPDATE of the oldest
queued row, so any number of worker processes can share it without a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.db.models import Job, utcnow
from imagetune.jobs.models import JobRecord, JobState
from imagetune.jobs.store import to_record


@dataclass(frozen=True)
class Released:
    """What became of the jobs a lost worker held."""

    requeued: int
    failed: int


class JobQueue(Protocol):
    def claim(self, worker_id: str) -> JobRecord | None:
        """Take the oldest queued job for ``worker_id``, or None when there is none."""

    def fail_overdue(self, started_before: datetime, reason: str) -> list[str]:
        """Fail jobs running since before ``started_before``; the ids of their workers."""

    def release(self, worker_id: str | None, *, count_attempt: bool) -> Released:
        """Hand back the running jobs of ``worker_id`` (of every worker when None).

        ``count_attempt`` says the worker was lost mid-job (crash, kill), so the attempt
        counts towards the limit; a clean stop hands the job back without using one up.
        """


class SqlJobQueue:
    def __init__(
        self, sessions: sessionmaker[Session], *, max_attempts: int, retention: timedelta
    ) -> None:
        self._sessions = sessions
        self._max_attempts = max_attempts
        self._retention = retention

    def claim(self, worker_id: str) -> JobRecord | None:
        oldest = (
            select(Job.id)
            .where(Job.state == JobState.QUEUED.value)
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._sessions.begin() as session:
            job = session.scalars(
                update(Job)
                .where(Job.id == oldest, Job.state == JobState.QUEUED.value)
                .values(
                    state=JobState.RUNNING.value,
                    worker_id=worker_id,
                    attempts=Job.attempts + 1,
                    started_at=utcnow(),
                    progress=0,
                )
                .returning(Job)
            ).one_or_none()
            return None if job is None else to_record(job)

    def fail_overdue(self, started_before: datetime, reason: str) -> list[str]:
        overdue = (Job.state == JobState.RUNNING.value) & (Job.started_at < started_before)
        # Checked twice a second: read first, so the usual "none" takes no write lock.
        with self._sessions() as session:
            if session.scalar(select(Job.id).where(overdue).limit(1)) is None:
                return []
        with self._sessions.begin() as session:
            workers = session.scalars(
                update(Job)
                .where(overdue)
                .values(
                    state=JobState.FAILED.value,
                    finished_at=utcnow(),
                    expires_at=utcnow() + self._retention,
                    error=reason,
                )
                .returning(Job.worker_id)
            ).all()
        return [worker for worker in workers if worker]

    def release(self, worker_id: str | None, *, count_attempt: bool) -> Released:
        running = Job.state == JobState.RUNNING.value
        held = running if worker_id is None else running & (Job.worker_id == worker_id)
        with self._sessions.begin() as session:
            failed = 0
            if count_attempt:
                failed = session.execute(
                    update(Job)
                    .where(held, Job.attempts >= self._max_attempts)
                    .values(
                        state=JobState.FAILED.value,
                        worker_id=None,
                        finished_at=utcnow(),
                        expires_at=utcnow() + self._retention,
                        error=(
                            f"Processing was interrupted {self._max_attempts} times "
                            "(worker lost mid-job); giving up"
                        ),
                    )
                ).rowcount  # type: ignore[attr-defined]
            requeued = session.execute(
                update(Job)
                .where(held)
                .values(
                    state=JobState.QUEUED.value,
                    worker_id=None,
                    started_at=None,
                    progress=0,
                    attempts=Job.attempts if count_attempt else Job.attempts - 1,
                )
            ).rowcount  # type: ignore[attr-defined]
            return Released(requeued=int(requeued), failed=int(failed))
