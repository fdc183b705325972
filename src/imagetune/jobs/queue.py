"""The queue contract: everything a worker host asks of a queue.

Two implementations keep the jobs table as the record of where each job is and move jobs
only through JobStates: the embedded queue (imagetune.jobs.embedded: the jobs table
itself, polled by one host's workers, on SQLite) and the fleet queue
(imagetune.jobs.fleet: Procrastinate on PostgreSQL, workers on any number of hosts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from imagetune.jobs.models import JobRecord
from imagetune.jobs.states import Released

JobHandler = Callable[[JobRecord], None]


class StopSignal(Protocol):
    """What a consuming worker watches (a threading or multiprocessing Event)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class JobQueue(Protocol):
    @property
    def single_host(self) -> bool:
        """Whether only one host may run workers at a time (it must hold the data
        directory's lock, and ``recover`` at its start takes back every running job)."""

    def dispatch(
        self, session: Session, job_id: uuid.UUID, not_before: datetime | None = None
    ) -> None:
        """Hand a new (or handed-back) job to the workers, inside the transaction that
        records it; not to be taken before ``not_before``."""

    def consume(self, worker_id: str, handle: JobHandler, stop: StopSignal) -> None:
        """Run jobs through ``handle`` as ``worker_id`` until ``stop`` is set; the job in
        hand is finished first."""

    def recover(self) -> Released:
        """At a worker host's start: take back jobs that hosts which died left running."""

    def sweep_stalled(self) -> Released:
        """Hand back the jobs of workers, on any host, that stopped sending heartbeats."""

    def fail_overdue(
        self, started_before: datetime, error: str, worker_ids: Collection[str]
    ) -> list[str]:
        """Fail jobs that ``worker_ids`` run since before ``started_before``; the ids of
        the workers that ran them."""

    def release(self, worker_id: str, *, count_attempt: bool) -> Released:
        """Hand back the running jobs of ``worker_id`` (see JobStates.release)."""
