"""What a host that runs workers runs: the pool, the purger and, for a single-host queue,
the data-directory lock and start-up recovery. Shared by `serve` and `worker`."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from imagetune.config import Settings
from imagetune.hosting.lock import worker_lock
from imagetune.hosting.placement import place_workers
from imagetune.hosting.pool import PoolHealth, WorkerPool
from imagetune.hosting.webhooks import deliver_webhooks
from imagetune.hosting.worker_process import ProcessorFactory, worker_main
from imagetune.jobs.hosts import WorkerHosts
from imagetune.jobs.retention import Purger
from imagetune.metrics import multiprocess
from imagetune.storage.base import Storage
from imagetune.wiring import Jobs

log = logging.getLogger(__name__)


class NoWorkers(Exception):
    """Nothing to run: the worker count came out as 0."""


@contextmanager
def run_workers(
    settings: Settings,
    jobs: Jobs,
    storage: Storage,
    size: int | None,
    processor_factory: ProcessorFactory,
) -> Iterator[WorkerPool]:
    """Start ``size`` worker processes (None: one per selected GPU, or the CPU default)
    and their companions; stop them on exit (the job in hand gets
    ``settings.shutdown_grace`` seconds, then is handed back). Raises NoGpuDevice, before
    anything starts, when IMAGETUNE_ENGINE_DEVICE=gpu cannot be met, and NoWorkers when
    the count comes out as 0."""
    devices, selection = place_workers(settings, size)
    if not devices:
        raise NoWorkers(
            "0 worker processes to run (IMAGETUNE_WORKERS=0 means the API alone, for "
            "`imagetune serve`); set IMAGETUNE_WORKERS or --concurrency to 1 or more"
        )
    log.info("workers run on %s (%s)", selection.describe(), selection.reason)
    with ExitStack() as stack:
        if jobs.queue.single_host:
            # What is running when the one host starts was left by a run that died; the
            # lock makes sure no other live host is running it.
            stack.enter_context(worker_lock(settings.data_dir))
        recovered = jobs.queue.recover()
        if recovered.requeued or recovered.failed:
            log.warning(
                "recovered jobs from an earlier run: %d re-queued, %d failed after too many tries",
                recovered.requeued,
                recovered.failed,
            )
        host_name = settings.worker_name or socket.gethostname()
        reports = WorkerHosts(jobs.database.sessions)
        report_as = f"{host_name}:{os.getpid()}"

        def report(health: PoolHealth) -> None:
            reports.report(
                report_as,
                expected=health.expected,
                alive=health.alive,
                # Only past the start deadline: a crash loop, not a host starting.
                failing_since=health.failing_since if health.trouble else None,
                last_error=health.last_error,
            )

        pool = WorkerPool(
            jobs.queue,
            devices,
            target=functools.partial(worker_main, settings, processor_factory),
            host_name=host_name,
            job_timeout=settings.job_timeout,
            sweep_interval=settings.worker_heartbeat_interval,
            device=selection.describe(),
            on_exit=multiprocess.process_exited if settings.metrics else None,
            start_deadline=settings.worker_start_deadline,
            on_health=report,
        )
        stack.callback(_forget, reports, report_as)
        pool.start()
        stack.callback(pool.stop, settings.shutdown_grace)
        # Every worker host purges: deleting is idempotent, so several may overlap.
        purger = Purger(jobs.store, jobs.states, storage, settings.purge_interval)
        purger.start()
        stack.callback(purger.stop)
        stack.enter_context(deliver_webhooks(settings, jobs, storage))
        yield pool


def _forget(reports: WorkerHosts, host: str) -> None:
    try:
        reports.forget(host)
    except Exception as e:  # the database away at the stop: the report just grows old
        log.warning("could not remove this host's worker report: %s", e)
