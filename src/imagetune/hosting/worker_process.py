"""The entry point of a worker process: it builds only what a worker uses (the job
system, storage and a processor) and consumes the queue until told to stop.

Runs in its own process, so CPU-heavy work never touches the API's event loop and a crash
costs only this process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from imagetune import logs, wiring
from imagetune.config import Settings
from imagetune.engine.base import Processor
from imagetune.hosting.placement import settings_for
from imagetune.hosting.pool import READY
from imagetune.jobs.worker import Worker
from imagetune.logs import configure_logging
from imagetune.processes import limit_address_space, set_process_name

log = logging.getLogger(__name__)

WORKER_PROCESS_NAME = "imagetune-work"
STOP_CHECK_INTERVAL = 0.5
MAX_REPORT = 500
"""Characters of a start error kept for /readyz and `imagetune status`."""

ProcessorFactory = Callable[[Settings], Processor]
"""Builds the processor a worker runs jobs through (wiring.processor: the engine). Tests
hand in their own; it must be picklable: it is handed to the fork server."""


def _stop_signal() -> threading.Event:
    """Set on SIGTERM (how the host asks), when the host dies or when the fork server
    this process was forked from does: each means "finish the job in hand, then exit".
    SIGINT is ignored: Ctrl+C reaches the whole process group, and the host decides when
    workers stop.

    The host is the process that started this one, not its parent: the parent is the
    host's fork server (imagetune.processes), which outlives the host as long as any of
    its children runs. multiprocessing keeps a pipe open from the host to each child,
    which ends when the host does, whatever kills it. Without the fork server the host
    cannot tell whether this process runs, and counts it as lost."""
    stopping = threading.Event()
    host = multiprocessing.parent_process()
    fork_server = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    def watch() -> None:
        while not stopping.wait(STOP_CHECK_INTERVAL):
            if (host is not None and not host.is_alive()) or os.getppid() != fork_server:
                stopping.set()

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    return stopping


def worker_main(
    settings: Settings,
    processor_factory: ProcessorFactory,
    worker_id: str,
    gpu_index: int | None,
    report: Connection,
) -> None:
    """Run jobs as ``worker_id`` on Vulkan device ``gpu_index`` (None: the CPU) until
    SIGTERM (or the parent dies); say on ``report`` when it is ready to take jobs,
    or the error it ends with (the supervisor shows it while workers cannot start)."""
    try:
        _run(settings, processor_factory, worker_id, gpu_index, report)
    except BaseException as e:
        with contextlib.suppress(OSError):
            report.send(f"{type(e).__name__}: {e}"[:MAX_REPORT])
        raise
    finally:
        report.close()


def _run(
    settings: Settings,
    processor_factory: ProcessorFactory,
    worker_id: str,
    gpu_index: int | None,
    report: Connection,
) -> None:
    settings = settings_for(settings, gpu_index)
    configure_logging(settings.log_level, settings.log_format)
    logs.set_process_worker(worker_id)
    set_process_name(WORKER_PROCESS_NAME)
    stopping = _stop_signal()
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    jobs = wiring.jobs(settings, wiring.database(settings, migrate=False))
    processor = processor_factory(settings)
    # Capped once the libraries are loaded; not with a GPU, whose drivers map large
    # address ranges they never touch.
    if processor.use_gpu:
        log.info("GPU worker: no address-space limit")
    else:
        limit_address_space(settings.worker_memory_mb)
    metrics = None
    if settings.metrics:
        from imagetune.metrics.worker import WorkerMetrics

        device = "gpu" if processor.use_gpu else "cpu"
        metrics = WorkerMetrics(device=device, threads=settings.resolved_engine_threads)
    worker = Worker(
        states=jobs.states,
        store=jobs.store,
        storage=wiring.storage(settings),
        processor=processor,
        time_limit=settings.job_timeout,
        on_phase=metrics.phase if metrics else None,
    )
    log.debug("worker %s started", worker_id)
    report.send(READY)
    try:
        execute = metrics.observe(worker.execute) if metrics else worker.execute
        jobs.queue.consume(worker_id, execute, stopping)
    finally:
        jobs.close()
