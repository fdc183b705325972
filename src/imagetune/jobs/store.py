"""The job store: reading job records, and recording new jobs with their queue entry."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.orm import Session

from imagetune.db.models import Job, JobWebhook
from imagetune.jobs import idempotency
from imagetune.jobs.models import JobRecord, NewJob
from imagetune.jobs.reuse import reusable
from imagetune.jobs.states import UNFINISHED, JobStates, to_record

Dispatch = Callable[[Session, uuid.UUID, datetime | None], None]
"""Hands a job to the queue inside the transaction that records it (JobQueue.dispatch)."""


class Admit(Protocol):
    """Inside the transaction that records a new job, before it is inserted: raises to
    refuse it, rolling the transaction back (imagetune.jobs.budgets.Budgets.charge)."""

    def __call__(self, session: Session, job: NewJob, *, reused: bool) -> None: ...


_BY_ID = select(Job.__table__).where(Job.__table__.c.id == bindparam("id"))
_BY_IDS = select(Job.__table__).where(Job.__table__.c.id.in_(bindparam("ids", expanding=True)))


class JobStore:
    def __init__(self, states: JobStates, dispatch: Dispatch, admit: Admit | None = None) -> None:
        self._states = states
        self._sessions = states.sessions
        self._engine: Engine = states.sessions.kw["bind"]
        self._dispatch = dispatch
        self._admit = admit

    def create(self, job: NewJob) -> None:
        """Record a new job; once this returns the job is durable and will be run."""
        with self._sessions.begin() as session:
            if self._admit is not None:
                self._admit(session, job, reused=False)
            # One transaction: never a job without a queue entry, or the reverse.
            self._states.create(session, job)
            self._add_companions(session, job)
            self._dispatch(session, job.id, None)

    def create_reusing(self, job: NewJob) -> bool:
        """Record ``job`` as succeeded with the results of the user's same earlier request,
        if there is one (imagetune.jobs.reuse), sharing its files (``job.original_key`` is
        replaced by the earlier job's); False, recording nothing, otherwise."""
        with self._sessions.begin() as session:
            source = reusable(session, job, self._states.clock())
            if source is None:
                return False
            if self._admit is not None:
                self._admit(session, job, reused=True)
            original_key, result_keys = source
            shared = dataclasses.replace(job, original_key=original_key)
            self._states.create(session, shared)
            self._add_companions(session, shared)
            self._states.succeed_reused(session, job.id, result_keys)
        return True

    def retry_later(self, job_id: uuid.UUID, error: str) -> datetime | None:
        """Hand back running job ``job_id`` after a fault of the infrastructure, to be run
        again later (JobStates.retry_later); None when it ended Failed with ``error``
        instead, its retry window over."""
        with self._sessions.begin() as session:
            retry_at = self._states.retry_later(session, job_id, error)
            if retry_at is not None:
                self._dispatch(session, job_id, retry_at)
        return retry_at

    def _add_companions(self, session: Session, job: NewJob) -> None:
        """The rows a new job brings with it: its webhook and its Idempotency-Key."""
        if job.webhook_url is not None:
            session.add(JobWebhook(job_id=job.id, url=job.webhook_url, events=job.webhook_events))
            session.flush()
        idempotency.remember(session, job, self._states.clock())

    def shares_files(self, job: JobRecord) -> bool:
        """Whether another unpurged job uses ``job``'s files (a reused result)."""
        with self._engine.connect() as connection:
            other = connection.execute(
                select(Job.id)
                .where(
                    Job.original_key == job.original_key,
                    Job.id != job.id,
                    Job.purged_at.is_(None),
                )
                .limit(1)
            ).first()
        return other is not None

    def known_originals(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that are some job's original."""
        with self._engine.connect() as connection:
            return set(
                connection.scalars(
                    select(Job.original_key).where(Job.original_key.in_(list(keys))).distinct()
                )
            )

    def get(self, job_id: uuid.UUID) -> JobRecord | None:
        # Every poll reads here: Core on a pooled connection costs a fifth of an ORM
        # Session.get, and a Row has the attributes to_record reads.
        with self._engine.connect() as connection:
            row = connection.execute(_BY_ID, {"id": job_id}).one_or_none()
        return None if row is None else to_record(cast(Job, row))

    def get_many(self, job_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, JobRecord]:
        """The records of those of ``job_ids`` that exist (polls, read in batches)."""
        with self._engine.connect() as connection:
            rows = connection.execute(_BY_IDS, {"ids": list(job_ids)}).all()
        return {row.id: to_record(cast(Job, row)) for row in rows}

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
