"""The fleet queue: Procrastinate on PostgreSQL, for API and worker processes on many hosts.

The jobs table stays the record of where each job is; Procrastinate carries the delivery.
A job's queue entry is deferred in the transaction that inserts its row (JobStore.create
calls ``dispatch``), with the job id as its lock, so there is never one without the other.

Delivery is at least once. A worker that dies mid-job leaves a Procrastinate job in
``doing`` whose worker stops sending heartbeats; ``sweep_stalled`` (run by every worker
host's supervisor) hands such jobs back: the row is re-queued, or Failed once it has used
up its attempts, and the entry goes back to ``todo``. Running a job twice is harmless: the
result key is derived from the job id, and a finished row never changes again.

Queries on Procrastinate's tables are its own (``procrastinate.sql.queries``), run on our
SQLAlchemy session's connection so that they share our transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate import sql as procrastinate_sql
from procrastinate.exceptions import ConnectorException
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from imagetune.db.models import Job
from imagetune.jobs.models import JobRecord, JobState
from imagetune.jobs.queue import JobHandler, StopSignal
from imagetune.jobs.states import NOTHING_RELEASED, JobStates, Released

log = logging.getLogger(__name__)

TASK_NAME = "imagetune.upscale"
QUEUE_NAME = "imagetune"
STOP_CHECK_INTERVAL = 0.2
FETCH_POLL_INTERVAL = 2.0
"""Seconds between fetches when no notification came (LISTEN/NOTIFY wakes workers first)."""
TASK_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)
"""For faults outside the job (the database or object store away for a moment): processing
errors are caught by the worker and end the job Failed, they never reach Procrastinate."""


def libpq_conninfo(database_url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy's form) as libpq reads it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _driver(session: Session) -> psycopg.Connection[Any]:
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    return connection


class FleetQueue:
    def __init__(
        self,
        states: JobStates,
        *,
        database_url: str,
        heartbeat_interval: float,
        stall_timeout: float,
    ) -> None:
        self._states = states
        self._conninfo = libpq_conninfo(database_url)
        self._heartbeat_interval = heartbeat_interval
        self._stall_timeout = stall_timeout
        # Never opened: it runs Procrastinate's queries on connections we hand it.
        self._connector = procrastinate.SyncPsycopgConnector()
        self._app = procrastinate.App(connector=self._connector)

    @property
    def single_host(self) -> bool:
        return False

    # -- the API side

    def dispatch(
        self, session: Session, job_id: uuid.UUID, not_before: datetime | None = None
    ) -> None:
        # A handed-back job's entry is deferred by the task still running its last one:
        # the queueing lock only counts entries waiting, the lock keeps them apart.
        self._app.configure_task(
            TASK_NAME,
            queue=QUEUE_NAME,
            lock=str(job_id),
            queueing_lock=str(job_id),
            connection=_driver(session),
            schedule_at=not_before,
        ).defer(job_id=str(job_id))

    # -- the worker side

    def claim(self, worker_id: str, job_id: uuid.UUID) -> JobRecord | None:
        """Start the delivered job for ``worker_id``; None when it has already finished (a
        repeated delivery), so the caller has nothing to do."""
        with self._states.sessions.begin() as session:
            return self._states.start(session, Job.id == job_id, worker_id)

    def consume(self, worker_id: str, handle: JobHandler, stop: StopSignal) -> None:
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=self._conninfo, min_size=1, max_size=3
            )
        )

        @app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=TASK_RETRY)
        def upscale(job_id: str) -> None:
            job = self.claim(worker_id, uuid.UUID(job_id))
            if job is None:
                log.info("job %s has already finished; repeated delivery ignored", job_id)
                return
            handle(job)

        asyncio.run(self._run_worker(app, worker_id, stop))

    async def _run_worker(self, app: procrastinate.App, worker_id: str, stop: StopSignal) -> None:
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    name=worker_id,
                    queues=[QUEUE_NAME],
                    concurrency=1,
                    install_signal_handlers=False,  # the process's owner decides when to stop
                    update_heartbeat_interval=self._heartbeat_interval,
                    stalled_worker_timeout=self._stall_timeout,
                    fetch_job_polling_interval=FETCH_POLL_INTERVAL,
                    delete_jobs="successful",  # the jobs table keeps the record
                )
            )
            while not worker.done() and not stop.is_set():
                await asyncio.sleep(STOP_CHECK_INTERVAL)
            # Cancelling asks Procrastinate for a graceful stop: the job in hand finishes.
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    # -- supervisors

    def recover(self) -> Released:
        """Hosts share the fleet: what a dead host left running is found by its missing
        heartbeats, as at any other time."""
        return self.sweep_stalled()

    def fail_overdue(
        self, started_before: datetime, error: str, worker_ids: Collection[str]
    ) -> list[str]:
        return self._states.fail_overdue(started_before, error, worker_ids)

    def release(self, worker_id: str, *, count_attempt: bool) -> Released:
        with self._states.sessions.begin() as session:
            # The worker's Procrastinate entries go back to ``todo`` (a failed job's entry
            # too: its next delivery finds the job finished and does nothing).
            entries = [
                entry["id"]
                for job_id in session.scalars(
                    select(Job.id).where(
                        Job.worker_id == worker_id, Job.state == JobState.RUNNING.value
                    )
                )
                for entry in self._query(session, "list_jobs", **_doing_with_lock(job_id))
            ]
            released = self._states.release(
                session, Job.worker_id == worker_id, count_attempt=count_attempt
            )
            for entry_id in entries:
                self._retry(session, entry_id)
        return released

    def sweep_stalled(self) -> Released:
        with self._states.sessions() as session:
            stalled = self._query(
                session,
                "select_stalled_jobs_by_heartbeat",
                queue=QUEUE_NAME,
                task_name=TASK_NAME,
                seconds_since_heartbeat=self._stall_timeout,
            )
        total = NOTHING_RELEASED
        for entry in stalled:
            total += self._hand_back(entry["id"], uuid.UUID(entry["args"]["job_id"]))
        if total.requeued or total.failed:
            log.warning(
                "took back jobs of stalled workers: %d re-queued, %d failed after too many tries",
                total.requeued,
                total.failed,
            )
        return total

    def _hand_back(self, entry_id: int, job_id: uuid.UUID) -> Released:
        try:
            with self._states.sessions.begin() as session:
                self._retry(session, entry_id)
                return self._states.release(session, Job.id == job_id, count_attempt=True)
        except ConnectorException:
            # No longer in ``doing``: another sweeper (or its worker) got there first.
            return NOTHING_RELEASED

    def _retry(self, session: Session, entry_id: int) -> None:
        self._query(
            session,
            "retry_job",
            job_id=entry_id,
            retry_at=self._states.clock(),
            new_priority=None,
            new_queue_name=None,
            new_lock=None,
        )

    def _query(self, session: Session, name: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._connector.execute_query_all_with_connection(
            _driver(session), query=procrastinate_sql.queries[name], **arguments
        )


def _doing_with_lock(job_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": None,
        "queue_name": QUEUE_NAME,
        "task_name": TASK_NAME,
        "status": "doing",
        "lock": str(job_id),
        "queueing_lock": None,
        "worker_id": None,
    }
