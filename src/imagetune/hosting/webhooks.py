"""Webhook delivery on a worker host: threads in the host process, beside the pool, never
in the API's request path and never in a worker (a slow receiver delays no job).

On the embedded queue (one host) a small thread pool delivers due messages from the
outbox; on the fleet every host runs a Procrastinate worker for the delivery tasks, and
sweeps for messages whose task was lost with a dead host.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from imagetune import wiring
from imagetune.config import Settings
from imagetune.storage.base import Storage
from imagetune.webhooks.courier import Courier
from imagetune.webhooks.secrets import WebhookSecrets
from imagetune.wiring import Jobs

if TYPE_CHECKING:
    from imagetune.webhooks.fleet import WebhookTasks

log = logging.getLogger(__name__)

CONCURRENCY = 4
"""Deliveries at once per host: a receiver that hangs holds up only its own message."""


@contextmanager
def deliver_webhooks(settings: Settings, jobs: Jobs, storage: Storage) -> Iterator[None]:
    """Deliver outbox messages until the block ends."""
    outbox = wiring.webhook_outbox(jobs.database, jobs.states.clock)
    name = settings.worker_name or socket.gethostname()
    courier = Courier(
        outbox,
        WebhookSecrets(jobs.database.sessions),
        wiring.webhook_sender(settings),
        storage,
        result_url_ttl=settings.result_url_ttl,
        retry_schedule=settings.resolved_webhook_retry_schedule,
        host=name,
        on_outcome=_count_delivery if settings.metrics else None,
    )
    stop = threading.Event()
    threads: list[threading.Thread] = []
    if jobs.queue.single_host:
        # Under the data-directory lock: a lease still held was held by a run that died.
        outbox.release_leases()
        threads.append(
            threading.Thread(
                target=_poll,
                args=(courier, stop, settings.worker_poll_interval),
                name="webhooks",
                daemon=True,
            )
        )
    else:  # Procrastinate is imported only on the fleet (its import costs every start)
        from imagetune.jobs.fleet import libpq_conninfo
        from imagetune.webhooks.fleet import WebhookTasks

        conninfo = libpq_conninfo(jobs.database.engine.url.render_as_string(hide_password=False))
        threads.append(
            threading.Thread(
                target=_fleet_worker,
                args=(conninfo, courier, stop, settings, f"{name}-webhooks"),
                name="webhooks",
                daemon=True,
            )
        )
        threads.append(
            threading.Thread(
                target=_sweep,
                args=(courier, WebhookTasks(), stop, settings.worker_heartbeat_interval),
                name="webhooks-sweep",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=settings.webhook_timeout + 5)


def _fleet_worker(
    conninfo: str, courier: Courier, stop: threading.Event, settings: Settings, name: str
) -> None:
    from imagetune.webhooks.fleet import run_worker

    while not stop.is_set():
        try:
            run_worker(
                conninfo,
                courier,
                stop,
                concurrency=CONCURRENCY,
                name=name,
                heartbeat_interval=settings.worker_heartbeat_interval,
                stall_timeout=settings.worker_stall_timeout,
            )
        except Exception:
            log.exception("webhook task worker stopped; starting it again")
            stop.wait(settings.worker_heartbeat_interval)


def _poll(courier: Courier, stop: threading.Event, interval: float) -> None:
    in_flight: dict[str, Future[str | None]] = {}
    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            try:
                for message_id in courier.outbox.due(courier.outbox.clock()):
                    if message_id not in in_flight:
                        in_flight[message_id] = pool.submit(courier.deliver, message_id)
            except Exception:
                log.exception("webhook outbox unavailable; trying again")
            for message_id, future in list(in_flight.items()):
                if future.done():
                    del in_flight[message_id]
                    if (error := future.exception()) is not None:
                        log.error("webhook %s: delivery failed: %r", message_id, error)
            stop.wait(interval)


def _sweep(courier: Courier, tasks: WebhookTasks, stop: threading.Event, interval: float) -> None:
    sessions = courier.outbox.sessions
    while not stop.wait(interval):
        try:
            requeued = 0
            for message_id in courier.outbox.stranded(
                courier.outbox.clock() - timedelta(seconds=2 * interval)
            ):
                with sessions.begin() as session:
                    requeued += tasks.defer(session, message_id, courier.outbox.clock())
            if requeued:
                log.warning("webhooks: %d message(s) had lost their task; queued again", requeued)
        except Exception:
            log.exception("webhook sweep failed; trying again")


def _count_delivery(outcome: str) -> None:
    from imagetune.metrics import instruments

    instruments.get().webhook_deliveries.labels(outcome).inc()
