"""A worker: runs one job through the processor, original in, result out, and finishes
the job either way. Hosting it in a process of its own is imagetune.hosting's business.

A fault of the infrastructure (imagetune.errors.transient: the storage unreachable or
full, the database away) is not the image's: the job is handed back to run again later
(JobStore.retry_later), and fails, naming the cause, only once its retry window is over.
Recording the outcome is retried here while the database is away: the result is already
stored, under a key derived from the job id.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from imagetune.engine.base import Processor, ProgressCallback
from imagetune.engine.errors import EngineError
from imagetune.errors import (
    ORIGINAL_UNREADABLE,
    RESULT_NOT_STORED,
    ImagetuneError,
    job_failure,
    transient,
)
from imagetune.jobs.models import JobRecord
from imagetune.jobs.states import JobStates
from imagetune.jobs.store import JobStore
from imagetune.logs import job_context
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)

EXPECTED_FAILURES = (ImagetuneError, EngineError, FileNotFoundError, MemoryError)
"""Failures that are the image's doing or a limit's: logged without a traceback."""
PROGRESS_INTERVAL = 0.5
"""Seconds between progress writes, so a fast tile loop does not hammer the database."""
MAX_RECORD_BACKOFF = 4.0
"""Most seconds between tries to record a job's outcome while the database is away."""

T = TypeVar("T")


PhaseTimer = Callable[[JobRecord, str, float], None]
"""Told (job, phase, seconds) for each phase: the engine's, then ``store``."""


def result_key(job: JobRecord, extension: str) -> str:
    """Derived from the job id: a job delivered twice overwrites, never adds."""
    return f"results/{job.id}.{extension}"


class Worker:
    def __init__(
        self,
        *,
        states: JobStates,
        store: JobStore,
        storage: Storage,
        processor: Processor,
        time_limit: float | None = None,
        on_phase: PhaseTimer | None = None,
    ) -> None:
        self._states = states
        self._store = store
        self._storage = storage
        self._processor = processor
        self._time_limit = time_limit
        self._on_phase = on_phase

    def execute(self, job: JobRecord) -> None:
        # Every line logged while running it names the job and the request that made it.
        with job_context(job.id, job.request_id, job.user_id):
            self._execute(job)

    def _execute(self, job: JobRecord) -> None:
        started = time.monotonic()
        request = job.process_request(self._time_limit)
        on_phase = self._on_phase
        if on_phase is not None:
            request = dataclasses.replace(
                request, on_phase=lambda phase, seconds: on_phase(job, phase, seconds)
            )
        # What a fault of the infrastructure at each step would have kept from happening.
        cause = ORIGINAL_UNREADABLE
        try:
            original = self._storage.read(job.original_key)
            cause = RESULT_NOT_STORED
            result = self._processor.process(
                original, request, progress=self._progress_reporter(job)
            )
            key = result_key(job, result.extension)
            stored = time.perf_counter()
            self._storage.write(key, result.data)
            if on_phase is not None:
                on_phase(job, "store", time.perf_counter() - stored)
        except Exception as e:
            if transient(e):
                self._retry_later(job, cause, e)
                return
            error = job_failure(e)
            expected = isinstance(e, EXPECTED_FAILURES)
            internal = e.internal if isinstance(e, ImagetuneError) else f"{type(e).__name__}: {e}"
            # The client sees ``error``; the log keeps the cause, and a traceback for
            # what is neither the image's doing nor a limit.
            log.warning("job %s failed: %s (%s)", job.id, error, internal, exc_info=not expected)
            self._recorded(lambda: self._states.fail(job.id, error))
            return
        self._recorded(lambda: self._states.succeed(job.id, [key]))
        log.info(
            "job %s done: %s %dx%d in %.2fs",
            job.id,
            job.scale.value,
            result.width,
            result.height,
            time.monotonic() - started,
        )

    def _retry_later(self, job: JobRecord, cause: str, error: Exception) -> None:
        retry_at = self._recorded(lambda: self._store.retry_later(job.id, cause))
        if retry_at is None:
            log.error("job %s failed: %s (%s), its retry window over", job.id, cause, error)
        else:
            log.warning(
                "job %s handed back, to run again from %s: %s",
                job.id,
                retry_at.isoformat(timespec="seconds"),
                error,
            )

    def _recorded(self, record: Callable[[], T]) -> T:
        """``record()``, tried again while the database is away, for as long as a job's
        retry window; after that the error is raised (the worker is lost, and its job
        handed back by whoever notices: the supervisor, or a fleet's stall sweep)."""
        deadline = time.monotonic() + self._states.retry_window.total_seconds()
        delay = 0.5
        while True:
            try:
                return record()
            except Exception as e:
                if not transient(e) or time.monotonic() + delay > deadline:
                    raise
                log.warning("cannot record a job's outcome; trying again in %gs: %s", delay, e)
            time.sleep(delay)
            delay = min(MAX_RECORD_BACKOFF, delay * 2)

    def _progress_reporter(self, job: JobRecord) -> ProgressCallback:
        last = 0.0

        def report(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if total > 0 and done < total and now - last >= PROGRESS_INTERVAL:
                last = now
                try:
                    self._states.set_progress(job.id, 100 * done // total)
                except Exception as e:  # progress is a nicety: the job goes on without it
                    if not transient(e):
                        raise
                    log.debug("job %s: progress not recorded: %s", job.id, e)

        return report
