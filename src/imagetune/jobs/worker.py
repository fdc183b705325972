"""A worker: runs one job through the processor, original in, result out, and finishes
the job either way. Hosting it in a process of its own is imagetune.hosting's business."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from imagetune.engine.base import Processor, ProgressCallback
from imagetune.engine.errors import EngineError
from imagetune.errors import ImagetuneError, job_failure
from imagetune.jobs.models import JobRecord
from imagetune.jobs.states import JobStates
from imagetune.logs import job_context
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)

EXPECTED_FAILURES = (ImagetuneError, EngineError, FileNotFoundError, MemoryError)
"""Failures that are the image's doing or a limit's: logged without a traceback."""
PROGRESS_INTERVAL = 0.5
"""Seconds between progress writes, so a fast tile loop does not hammer the database."""


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
        storage: Storage,
        processor: Processor,
        time_limit: float | None = None,
        on_phase: PhaseTimer | None = None,
    ) -> None:
        self._states = states
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
        try:
            original = self._storage.read(job.original_key)
            result = self._processor.process(
                original, request, progress=self._progress_reporter(job)
            )
            key = result_key(job, result.extension)
            stored = time.perf_counter()
            self._storage.write(key, result.data)
            if on_phase is not None:
                on_phase(job, "store", time.perf_counter() - stored)
        except Exception as e:
            error = job_failure(e)
            expected = isinstance(e, EXPECTED_FAILURES)
            internal = e.internal if isinstance(e, ImagetuneError) else f"{type(e).__name__}: {e}"
            # The client sees ``error``; the log keeps the cause, and a traceback for
            # what is neither the image's doing nor a limit.
            log.warning("job %s failed: %s (%s)", job.id, error, internal, exc_info=not expected)
            self._states.fail(job.id, error)
            return
        self._states.succeed(job.id, [key])
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
                self._states.set_progress(job.id, 100 * done // total)

        return report
