"""What a host that runs workers runs: the pool, the purger and, for a single-host queue,
the data-directory lock and start-up recovery. Shared by `serve` and `worker`."""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from imagetune.config import Settings
from imagetune.hosting.lock import worker_lock
from imagetune.hosting.placement import place_workers
from imagetune.hosting.pool import WorkerPool
from imagetune.hosting.webhooks import deliver_webhooks
from imagetune.hosting.worker_process import ProcessorFactory, worker_main
from imagetune.jobs.retention import Purger
from imagetune.metrics import multiprocess
from imagetune.storage.base import Storage
from imagetune.wiring import Jobs

log = logging.getLogger(__name__)


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
    anything starts, when IMAGETUNE_ENGINE_DEVICE=gpu cannot be met."""
    devices, selection = place_workers(settings, size)
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
        pool = WorkerPool(
            jobs.queue,
            devices,
            target=functools.partial(worker_main, settings, processor_factory),
            host_name=settings.worker_name or socket.gethostname(),
            job_timeout=settings.job_timeout,
            sweep_interval=settings.worker_heartbeat_interval,
            device=selection.describe(),
            on_exit=multiprocess.process_exited if settings.metrics else None,
        )
        pool.start()
        stack.callback(pool.stop, settings.shutdown_grace)
        # Every worker host purges: deleting is idempotent, so several may overlap.
        purger = Purger(jobs.store, jobs.states, storage, settings.purge_interval)
        purger.start()
        stack.callback(purger.stop)
        stack.enter_context(deliver_webhooks(settings, jobs, storage))
        yield pool
