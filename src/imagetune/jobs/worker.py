"""A worker: takes jobs from the queue and runs them through the processor.

Runs in its own process (see imagetune.jobs.pool), so CPU-heavy work never touches the
API's event loop and a crash costs only this process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing.synchronize import Event

from imagetune.config import Settings
from imagetune.engine.base import Processor, ProcessRequest, ProgressCallback
from imagetune.engine.runtime import InferenceFailed
from imagetune.errors import ImagetuneError
from imagetune.jobs.models import JobRecord
from imagetune.jobs.store import JobStore
from imagetune.processes import limit_address_space, set_process_name
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)

WORKER_PROCESS_NAME = "imagetune-work"
PROGRESS_INTERVAL = 0.5
"""Seconds between progress writes, so a fast tile loop does not hammer the database."""


class Worker:
    """Runs one job: original in, result out, the row finished either way."""

    def __init__(self, *, jobs: JobStore, storage: Storage, processor: Processor) -> None:
        self._jobs = jobs
        self._storage = storage
        self._processor = processor

    def execute(self, job: JobRecord) -> None:
        started = time.monotonic()
        try:
            original = self._storage.read(job.original_key)
            result = self._processor.process(
                original,
                ProcessRequest(job.scale.pixels, job.model, job.output_format, job.metadata),
                progress=self._progress_reporter(job),
            )
            # Derived from the job id: a job delivered twice overwrites, never adds.
            key = f"results/{job.id}.{result.extension}"
            self._storage.write(key, result.data)
        except Exception as e:
            reason = failure_reason(e)
            log.warning("job %s failed: %s", job.id, reason, exc_info=not _expected(e))
            self._jobs.mark_failed(job.id, reason)
            return
        self._jobs.mark_succeeded(job.id, [key])
        log.info(
            "job %s done: %s %dx%d in %.2fs",
            job.id,
            job.scale.value,
            result.width,
            result.height,
            time.monotonic() - started,
        )

    def _progress_reporter(self, job: JobRecord) -> ProgressCallback:
        last = 0.0

        def report(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if total > 0 and done < total and now - last >= PROGRESS_INTERVAL:
                last = now
                self._jobs.set_progress(job.id, 100 * done // total)

        return report


def _expected(e: Exception) -> bool:
    return isinstance(e, ImagetuneError)


def failure_reason(e: Exception) -> str:
    if isinstance(e, ImagetuneError):
        return e.detail
    if isinstance(e, FileNotFoundError):
        return "The original image is no longer stored"
    if isinstance(e, MemoryError | InferenceFailed):
        # InferenceFailed reaches here only after tiles were split as far as they go.
        return "Not enough memory to process this image"
    return f"Processing error: {type(e).__name__}: {e}"


STOP_CHECK_INTERVAL = 0.5


def _stop_signal(stop: Event) -> threading.Event:
    """Set when the parent asks (``stop``), when the parent dies, or on SIGTERM: each
    means "finish the job in hand, then exit". SIGINT is ignored: Ctrl+C reaches the
    whole process group, and the parent decides when workers stop."""
    stopping = threading.Event()
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    def watch() -> None:
        while not stopping.is_set():
            if stop.wait(STOP_CHECK_INTERVAL) or os.getppid() != parent:
                stopping.set()

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
    return stopping


def worker_main(settings: Settings, worker_id: str, stop: Event) -> None:
    """Entry point of a worker process."""
    from imagetune.logs import configure_logging
    from imagetune.services import build_processor, build_services

    configure_logging(settings.log_level)
    set_process_name(WORKER_PROCESS_NAME)
    stopping = _stop_signal(stop)
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    services = build_services(settings, migrate=False)
    processor = build_processor(settings)
    # Capped once the libraries are loaded; not with a GPU, whose drivers map large
    # address ranges they never touch.
    if processor.use_gpu:
        log.info("GPU worker: no address-space limit")
    else:
        limit_address_space(settings.worker_memory_mb)
    worker = Worker(jobs=services.jobs, storage=services.storage, processor=processor)
    log.debug("worker %s started", worker_id)
    try:
        services.queue.consume(worker_id, worker.execute, stopping)
    finally:
        services.close()
