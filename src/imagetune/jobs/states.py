"""The one owner of job state: every write of a job's state goes through JobStates.

Each transition is one guarded UPDATE (or the INSERT of a new job), so a status never
moves backwards: a finished job never changes again, only a running job is handed back,
only a running job reports progress. ``expires_at`` and the clearing of ``worker_id`` are
computed here and nowhere else.

Whoever needs to know that a job changed state (webhooks, metrics) registers an observer:
it is called inside the transaction that made the change, with that session, so what it
writes commits or rolls back together with the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import Clock, utcnow
from imagetune.db.models import Job
from imagetune.errors import interrupted
from imagetune.jobs.models import JobOptions, JobRecord, JobState, NewJob, Scale

UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)
MAX_ERROR_LENGTH = 1000
DEFAULT_RETRY_WINDOW = timedelta(minutes=5)
MIN_RETRY_DELAY = timedelta(seconds=1)
MAX_RETRY_DELAY = timedelta(seconds=30)


def retry_delay(since_first_fault: timedelta) -> timedelta:
    """How long a handed-back job waits: as long as it has been failing (so the waits
    double: 1, 1, 2, 4 ... s), between MIN_RETRY_DELAY and MAX_RETRY_DELAY."""
    return max(MIN_RETRY_DELAY, min(MAX_RETRY_DELAY, since_first_fault))


class Change(StrEnum):
    """What happened to a job."""

    QUEUED = "queued"
    """Created, waiting for a worker."""
    STARTED = "started"
    """A worker took it (again, after a hand-back)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """Ended without a result: processing failed, ran over time, or lost too many workers."""
    REQUEUED = "requeued"
    """Handed back by a stopping or lost worker; it waits for another."""
    PURGED = "purged"
    """Its retention ended: the original and results were deleted."""


@dataclass(frozen=True)
class Transition:
    job_id: uuid.UUID
    change: Change


Observer = Callable[[Session, Sequence[Transition]], None]
"""Called inside the transaction that made the transitions, before it commits."""


@dataclass(frozen=True)
class Released:
    """What became of running jobs that were handed back."""

    requeued: int
    failed: int

    def __add__(self, other: Released) -> Released:
        return Released(self.requeued + other.requeued, self.failed + other.failed)


NOTHING_RELEASED = Released(0, 0)


def to_record(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        user_id=job.user_id,
        state=JobState(job.state),
        scale=Scale(job.scale),
        options=JobOptions.from_json(job.options),
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
        request_id=job.request_id,
    )


class JobStates:
    """Moves jobs between states in the jobs table, for the API, the queues and the
    workers alike."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        retention: timedelta,
        max_attempts: int,
        retry_window: timedelta = DEFAULT_RETRY_WINDOW,
        observers: Sequence[Observer] = (),
        clock: Clock = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        """Every timestamp a transition writes comes from here."""
        self.retention = retention
        self.max_attempts = max_attempts
        self.retry_window = retry_window
        """How long after its first fault of the infrastructure a job is still retried."""
        self._observers = list(observers)

    def observe(self, observer: Observer) -> None:
        """Call ``observer`` with every transition from now on (see Observer)."""
        self._observers.append(observer)

    # -- transitions that take part in a caller's transaction

    def create(self, session: Session, job: NewJob) -> None:
        """Insert ``job``, queued."""
        session.add(
            Job(
                id=job.id,
                user_id=job.user_id,
                state=JobState.QUEUED.value,
                scale=job.scale.value,
                options=job.options.to_json(),
                original_key=job.original_key,
                fingerprint=job.fingerprint,
                result_keys=[],
                attempts=0,
                progress=0,
                created_at=self.clock(),
                request_id=job.request_id,
                input_pixels=job.input_pixels,
                output_pixels=job.output_pixels,
            )
        )
        session.flush()
        self._notify(session, [job.id], Change.QUEUED)

    def succeed_reused(self, session: Session, job_id: uuid.UUID, result_keys: list[str]) -> None:
        """Finish a job just created in this transaction with ``result_keys``, an earlier
        job's results (imagetune.jobs.reuse). Observers see it queued, then succeed."""
        self._succeed(session, job_id, result_keys)

    def start(
        self, session: Session, which: ColumnElement[bool], worker_id: str
    ) -> JobRecord | None:
        """Mark the unfinished job ``which`` selects as running for ``worker_id``; None
        when there is none (taken by another worker, or already finished)."""
        job = session.scalars(
            update(Job)
            .where(which, Job.state.in_(UNFINISHED))
            .values(
                state=JobState.RUNNING.value,
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                started_at=self.clock(),
                progress=0,
            )
            .returning(Job)
        ).one_or_none()
        if job is None:
            return None
        self._notify(session, [job.id], Change.STARTED)
        return to_record(job)

    def release(
        self, session: Session, held: ColumnElement[bool], *, count_attempt: bool
    ) -> Released:
        """Hand back the running jobs ``held`` selects.

        ``count_attempt`` says the worker was lost mid-job (crash, kill, stall), so the
        attempt counts, and a job out of attempts ends Failed; a clean stop hands the job
        back without using one up.
        """
        held = held & (Job.state == JobState.RUNNING.value)
        failed: list[uuid.UUID] = []
        if count_attempt:
            failed = self._finish(
                session,
                held & (Job.attempts >= self.max_attempts),
                JobState.FAILED,
                error=interrupted(self.max_attempts),
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
        self._notify(session, requeued, Change.REQUEUED)
        return Released(requeued=len(requeued), failed=len(failed))

    def retry_later(self, session: Session, job_id: uuid.UUID, error: str) -> datetime | None:
        """Hand back running job ``job_id`` after a fault of the infrastructure (storage,
        database), which is not the image's: the attempt does not count, and the job is
        not taken again before the returned time. Once ``retry_window`` has passed since
        its first such fault it ends Failed with the public ``error`` instead (None is
        returned, as when it was not running)."""
        now = self.clock()
        running = (Job.id == job_id) & (Job.state == JobState.RUNNING.value)
        row = session.execute(select(Job.faulted_at).where(running)).one_or_none()
        if row is None:
            return None
        first = row.faulted_at or now
        if now - first >= self.retry_window:
            self._finish(session, running, JobState.FAILED, error=error[:MAX_ERROR_LENGTH])
            return None
        retry_at = now + retry_delay(now - first)
        requeued = session.scalars(
            update(Job)
            .where(running)
            .values(
                state=JobState.QUEUED.value,
                worker_id=None,
                started_at=None,
                progress=0,
                attempts=Job.attempts - 1,
                retry_at=retry_at,
                faulted_at=first,
            )
            .returning(Job.id)
        ).all()
        self._notify(session, requeued, Change.REQUEUED)
        return retry_at if requeued else None

    # -- transitions in a transaction of their own

    def set_progress(self, job_id: uuid.UUID, percent: int) -> None:
        """Record how far a running job is (0-100); ignored once it is not running."""
        with self.sessions.begin() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.RUNNING.value)
                .values(progress=max(0, min(100, percent)))
            )

    def succeed(self, job_id: uuid.UUID, result_keys: list[str]) -> bool:
        """Finish an unfinished job with results; False when it had already finished."""
        with self.sessions.begin() as session:
            return self._succeed(session, job_id, result_keys)

    def fail(self, job_id: uuid.UUID, error: str) -> bool:
        """Finish an unfinished job as Failed with the public ``error``; False when it had
        already finished."""
        with self.sessions.begin() as session:
            return bool(
                self._finish(
                    session, Job.id == job_id, JobState.FAILED, error=error[:MAX_ERROR_LENGTH]
                )
            )

    def fail_overdue(
        self, started_before: datetime, error: str, worker_ids: Collection[str]
    ) -> list[str]:
        """Fail the jobs ``worker_ids`` run since before ``started_before``; the ids of the
        workers that ran them."""
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
            # Worker by worker: finishing clears worker_id, so RETURNING cannot say whose.
            return [
                worker
                for worker in worker_ids
                if self._finish(
                    session, overdue & (Job.worker_id == worker), JobState.FAILED, error=error
                )
            ]

    def purge(self, job_id: uuid.UUID) -> None:
        """Record that a finished job's files were deleted."""
        with self.sessions.begin() as session:
            purged = session.scalars(
                update(Job)
                .where(Job.id == job_id, Job.state.not_in(UNFINISHED), Job.purged_at.is_(None))
                .values(purged_at=self.clock())
                .returning(Job.id)
            ).all()
            self._notify(session, purged, Change.PURGED)

    # -- the one place a job finishes

    def _succeed(self, session: Session, job_id: uuid.UUID, result_keys: list[str]) -> bool:
        finished = self._finish(
            session,
            Job.id == job_id,
            JobState.SUCCEEDED,
            result_keys=result_keys,
            error=None,
            progress=100,
        )
        return bool(finished)

    def _finish(
        self, session: Session, which: ColumnElement[bool], state: JobState, **values: Any
    ) -> list[uuid.UUID]:
        now = self.clock()
        finished = list(
            session.scalars(
                update(Job)
                .where(which, Job.state.in_(UNFINISHED))
                .values(
                    state=state.value,
                    finished_at=now,
                    expires_at=now + self.retention,
                    worker_id=None,
                    **values,
                )
                .returning(Job.id)
            ).all()
        )
        change = Change.SUCCEEDED if state is JobState.SUCCEEDED else Change.FAILED
        self._notify(session, finished, change)
        return finished

    def _notify(self, session: Session, job_ids: Sequence[uuid.UUID], change: Change) -> None:
        if job_ids and self._observers:
            transitions = [Transition(job_id, change) for job_id in job_ids]
            for observer in self._observers:
                observer(session, transitions)
