"""What a host that runs workers runs: the pool, the purger and, on the embedded queue,
the data-directory lock and start-up recovery. Shared by `serve` and `worker`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from imagetune.config import Settings
from imagetune.jobs.placement import place_workers
from imagetune.jobs.pool import WorkerPool
from imagetune.jobs.queue import SqlJobQueue
from imagetune.jobs.recovery import recover_unfinished, worker_lock
from imagetune.jobs.retention import Purger
from imagetune.services import Services

log = logging.getLogger(__name__)


@contextmanager
def run_workers(settings: Settings, services: Services, size: int | None) -> Iterator[WorkerPool]:
    """Start ``size`` worker processes (None: one per selected GPU, or the CPU default)
    and their companions; stop them on exit (the job in hand gets
    ``settings.shutdown_grace`` seconds, then is handed back)."""
    devices, selection = place_workers(settings, size)
    log.info("workers run on %s (%s)", selection.describe(), selection.reason)
    with ExitStack() as stack:
        if isinstance(services.queue, SqlJobQueue):
            # One host owns the embedded queue: what is running when it starts was left
            # by a run that died.
            stack.enter_context(worker_lock(settings.data_dir))
            recover_unfinished(services.queue)
        pool = WorkerPool(
            settings, services.queue, len(devices), devices, device=selection.describe()
        )
        pool.start()
        stack.callback(pool.stop, settings.shutdown_grace)
        # Every worker host purges: deleting is idempotent, so several may overlap.
        purger = Purger(services.jobs, services.storage, settings.purge_interval)
        purger.start()
        stack.callback(purger.stop)
        yield pool
