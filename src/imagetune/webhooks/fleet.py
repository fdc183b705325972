"""On the fleet (PostgreSQL), deliveries are Procrastinate tasks that any worker host runs.

A message's task is deferred in the transaction that writes the message (or records a
failed attempt, then at the retry's time), on our own connection, like the upscale queue
(imagetune.jobs.fleet). The message's lease, not the task, says who delivers: a repeated
task finds the message held or finished and does nothing, and a task lost with a dead
host is replaced by the sweep of stranded messages that every worker host runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.orm import Session

from imagetune.webhooks.courier import Courier

TASK_NAME = "imagetune.webhook"
QUEUE_NAME = "imagetune-webhooks"
STOP_CHECK_INTERVAL = 0.2
FETCH_POLL_INTERVAL = 1.0


def _driver(session: Session) -> psycopg.Connection[Any]:
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    return connection


class WebhookTasks:
    """Defers delivery tasks on a session's connection (an outbox Schedule)."""

    def __init__(self) -> None:
        # Never opened: it runs Procrastinate's queries on connections we hand it.
        self._app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())

    def __call__(self, session: Session, message_id: str, at: datetime) -> None:
        self.defer(session, message_id, at)

    def defer(self, session: Session, message_id: str, at: datetime) -> bool:
        """Whether a task was deferred (False: one is already waiting for the message)."""
        # A savepoint: a task already waiting must not abort the caller's transaction.
        try:
            with session.begin_nested():
                self._app.configure_task(
                    TASK_NAME,
                    queue=QUEUE_NAME,
                    queueing_lock=message_id,
                    schedule_at=at,
                    connection=_driver(session),
                ).defer(message_id=message_id)
        except AlreadyEnqueued:
            return False
        return True


def run_worker(
    conninfo: str,
    courier: Courier,
    stop: threading.Event,
    *,
    concurrency: int,
    name: str,
    heartbeat_interval: float,
    stall_timeout: float,
) -> None:
    """Deliver messages as their tasks come due until ``stop`` is set."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo, min_size=1, max_size=concurrency + 1
        )
    )

    @app.task(name=TASK_NAME, queue=QUEUE_NAME)
    def deliver(message_id: str) -> None:
        courier.deliver(message_id)

    asyncio.run(
        _run(
            app,
            stop,
            name=name,
            queues=[QUEUE_NAME],
            concurrency=concurrency,
            # As the upscale workers: each prunes workers it thinks stalled, ours included.
            update_heartbeat_interval=heartbeat_interval,
            stalled_worker_timeout=stall_timeout,
        )
    )


async def _run(app: procrastinate.App, stop: threading.Event, **options: Any) -> None:
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                **options,
                install_signal_handlers=False,
                fetch_job_polling_interval=FETCH_POLL_INTERVAL,
                delete_jobs="always",  # the outbox keeps the record
            )
        )
        while not worker.done() and not stop.is_set():
            await asyncio.sleep(STOP_CHECK_INTERVAL)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
