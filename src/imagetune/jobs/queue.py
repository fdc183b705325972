"""The queue workers take jobs from, and the embedded queue (the jobs table itself).

Two implementations share the jobs table as the record of where each job is: the
embedded queue below (SQLite or PostgreSQL on one host: claiming is one atomic UPDATE of
the oldest queued row) and the fleet queue (imagetune.jobs.fleet: Procrastinate on
PostgreSQL, for workers on many machines).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.db.models import Job, utcnow
from imagetune.jobs.models import JobRecord, JobState
from imagetune.jobs.store import to_record

JobHandler = Callable[[JobRecord], None]


class StopSignal(Protocol):
    """What a consuming worker watches (a threading or multiprocessing Event)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class Released:
    """What became of jobs handed back from a lost or stopping worker."""

    requeued: int
    failed: int

    def __add__(self, other: Released) -> Released:
        return Released(self.requeued + other.requeued, self.failed + other.failed)


NOTHING_RELEASED = Released(0, 0)


class JobQueue(Protocol):
    def dispatch(self, session: Session, job_id: uuid.UUID) -> None:
        """Hand a new job to the workers, inside the transaction that records it."""

    def consume(self, worker_id: str, handle: JobHandler, stop: StopSignal) -> None:
        """Run jobs through ``handle`` as ``worker_id`` until ``stop`` is set; the job in
        hand is finished first."""

    def fail_overdue(
        self, started_before: datetime, reason: str, worker_ids: Collection[str]
    ) -> list[str]:
        """Fail jobs that ``worker_ids`` run since before ``started_before``; the ids of
        the workers that ran them."""

    def release(self, worker_id: str, *, count_attempt: bool) -> Released:
        """Hand back the running jobs of ``worker_id``.

        ``count_attempt`` says the worker was lost mid-job (crash, kill), so the attempt
        counts towards the limit; a clean stop hands the job back without using one up.
        """

    def sweep_stalled(self) -> Released:
        """Hand back the jobs of workers, on any host, that stopped sending heartbeats.

        The embedded queue has nothing to do here: its one host's supervisor sees its
        workers die, and a dead host's jobs are re-queued when it starts again
        (``release_all`` under the data-directory lock).
        """


class JobTable:
    """Moves jobs between states in the jobs table; both queues build on it."""

    def __init__(
        self, sessions: sessionmaker[Session], *, max_attempts: int, retention: timedelta
    ) -> None:
        self.sessions = sessions
        self.max_attempts = max_attempts
        self.retention = retention

    def start(self, session: Session, which: ColumnElement[bool], worker_id: str) -> Job | None:
        """Mark the job ``which`` selects as running for ``worker_id``."""
        return session.scalars(
            update(Job)
            .where(which)
            .values(
                state=JobState.RUNNING.value,
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                started_at=utcnow(),
                progress=0,
            )
            .returning(Job)
        ).one_or_none()

    def fail_overdue(
        self, started_before: datetime, reason: str, worker_ids: Collection[str]
    ) -> list[str]:
        if not worker_ids:
            return []
        overdue = (
            (Job.state == JobState.RUNNING.value)
            & (Job.started_at < started_before)
            & Job.worker_id.in_(list(worker_ids))
        )
        # Checked twice a second: read first, so the usual "none" takes no write lock.
        with self.sessions() as session:
            if session.scalar(select(Job.id).where(overdue).limit(1)) is None:
                return []
        with self.sessions.begin() as session:
            workers = session.scalars(
                update(Job)
                .where(overdue)
                .values(
                    state=JobState.FAILED.value,
                    finished_at=utcnow(),
                    expires_at=utcnow() + self.retention,
                    error=reason,
                )
                .returning(Job.worker_id)
            ).all()
        return [worker for worker in workers if worker]

    def release(
        self, session: Session, held: ColumnElement[bool], *, count_attempt: bool
    ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """Hand back the running jobs ``held`` selects: (re-queued ids, failed ids)."""
        held = held & (Job.state == JobState.RUNNING.value)
        failed: list[uuid.UUID] = []
        if count_attempt:
            failed = list(
                session.scalars(
                    update(Job)
                    .where(held, Job.attempts >= self.max_attempts)
                    .values(
                        state=JobState.FAILED.value,
                        worker_id=None,
                        finished_at=utcnow(),
                        expires_at=utcnow() + self.retention,
                        error=(
                            f"Processing was interrupted {self.max_attempts} times "
                            "(worker lost mid-job); giving up"
                        ),
                    )
                    .returning(Job.id)
                ).all()
            )
        requeued = list(
            session.scalars(
                update(Job)
                .where(held)
                .values(
                    state=JobState.QUEUED.value,
                    worker_id=None,
                    started_at=None,
                    progress=0,
                    attempts=Job.attempts if count_attempt else Job.attempts - 1,
                )
                .returning(Job.id)
            ).all()
        )
        return requeued, failed


class SqlJobQueue:
    """The embedded queue: the jobs table is the queue, polled by the workers of one host."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_attempts: int,
        retention: timedelta,
        poll_interval: float = 0.2,
    ) -> None:
        self._table = JobTable(sessions, max_attempts=max_attempts, retention=retention)
        self._poll_interval = poll_interval

    def dispatch(self, session: Session, job_id: uuid.UUID) -> None:
        """Nothing to do: the queued row is the queue entry."""

    def claim(self, worker_id: str) -> JobRecord | None:
        """Take the oldest queued job for ``worker_id``, or None when there is none."""
        oldest = (
            select(Job.id)
            .where(Job.state == JobState.QUEUED.value)
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._table.sessions.begin() as session:
            job = self._table.start(
                session, (Job.id == oldest) & (Job.state == JobState.QUEUED.value), worker_id
            )
            return None if job is None else to_record(job)

    def consume(self, worker_id: str, handle: JobHandler, stop: StopSignal) -> None:
        while not stop.is_set():
            job = self.claim(worker_id)
            if job is None:
                stop.wait(self._poll_interval)
            else:
                handle(job)

    def fail_overdue(
        self, started_before: datetime, reason: str, worker_ids: Collection[str]
    ) -> list[str]:
        return self._table.fail_overdue(started_before, reason, worker_ids)

    def release(self, worker_id: str, *, count_attempt: bool) -> Released:
        return self._release(Job.worker_id == worker_id, count_attempt=count_attempt)

    def release_all(self) -> Released:
        """Hand back every running job, counting the attempt: at start-up, under the
        data-directory lock, when no other worker can be running them."""
        return self._release(true(), count_attempt=True)

    def sweep_stalled(self) -> Released:
        return NOTHING_RELEASED

    def _release(self, held: ColumnElement[bool], *, count_attempt: bool) -> Released:
        with self._table.sessions.begin() as session:
            requeued, failed = self._table.release(session, held, count_attempt=count_attempt)
        return Released(requeued=len(requeued), failed=len(failed))
