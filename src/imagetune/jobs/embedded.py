"""The embedded queue: the jobs table is the queue, polled by the workers of one host.

Taking a job is one atomic UPDATE of the oldest queued row. One host owns the queue (the
data-directory lock): whatever is running when it starts was left by a run that died.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from imagetune.db.models import Job
from imagetune.errors import transient
from imagetune.jobs.models import JobRecord, JobState
from imagetune.jobs.queue import JobHandler, StopSignal
from imagetune.jobs.states import NOTHING_RELEASED, JobStates, Released

log = logging.getLogger(__name__)

MAX_CLAIM_BACKOFF = 5.0
"""Most seconds between tries to take a job while the database cannot be reached."""


class EmbeddedQueue:
    def __init__(self, states: JobStates, *, poll_interval: float) -> None:
        self._states = states
        self._poll_interval = poll_interval

    @property
    def single_host(self) -> bool:
        return True

    def dispatch(
        self, session: Session, job_id: uuid.UUID, not_before: datetime | None = None
    ) -> None:
        """Nothing to do: the queued row is the queue entry (with its ``retry_at``)."""

    def claim(self, worker_id: str) -> JobRecord | None:
        """Start the oldest queued job for ``worker_id``; None when there is none."""
        due = Job.retry_at.is_(None) | (Job.retry_at <= self._states.clock())
        oldest = (
            select(Job.id)
            .where(Job.state == JobState.QUEUED.value, due)
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        with self._states.sessions.begin() as session:
            return self._states.start(
                session, (Job.id == oldest) & (Job.state == JobState.QUEUED.value), worker_id
            )

    def consume(self, worker_id: str, handle: JobHandler, stop: StopSignal) -> None:
        failing_since: float | None = None
        while not stop.is_set():
            try:
                job = self.claim(worker_id)
            except Exception as e:
                if not transient(e):
                    raise
                # The database away (or its disk full): wait for it, not die and restart.
                now = time.monotonic()
                if failing_since is None:
                    log.warning("cannot take jobs from the database; retrying: %s", e)
                    failing_since = now
                stop.wait(min(MAX_CLAIM_BACKOFF, max(self._poll_interval, now - failing_since)))
                continue
            if failing_since is not None:
                log.warning("taking jobs from the database works again")
                failing_since = None
            if job is None:
                stop.wait(self._poll_interval)
            else:
                handle(job)

    def recover(self) -> Released:
        """Every running job, the attempt counted: called under the data-directory lock,
        when no other worker can be running them."""
        return self._release(true(), count_attempt=True)

    def sweep_stalled(self) -> Released:
        """Nothing to do: the one host's supervisor sees its workers die, and a dead
        host's jobs are taken back by ``recover`` when it starts again."""
        return NOTHING_RELEASED

    def fail_overdue(
        self, started_before: datetime, error: str, worker_ids: Collection[str]
    ) -> list[str]:
        return self._states.fail_overdue(started_before, error, worker_ids)

    def release(self, worker_id: str, *, count_attempt: bool) -> Released:
        return self._release(Job.worker_id == worker_id, count_attempt=count_attempt)

    def _release(self, held: ColumnElement[bool], *, count_attempt: bool) -> Released:
        with self._states.sessions.begin() as session:
            return self._states.release(session, held, count_attempt=count_attempt)
