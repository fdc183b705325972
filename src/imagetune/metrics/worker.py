"""Metrics a worker process records: where a job's time goes, whether the worker is busy,
and what it runs on."""

from __future__ import annotations

from imagetune.jobs.models import JobRecord
from imagetune.jobs.queue import JobHandler
from imagetune.metrics import instruments


class WorkerMetrics:
    def __init__(self, *, device: str, threads: int) -> None:
        self._metrics = instruments.get()
        self._busy = self._metrics.workers.labels("busy")
        self._idle = self._metrics.workers.labels("idle")
        self._busy.set(0)
        self._idle.set(1)
        self._metrics.engine_info.labels(device, str(threads)).set(1)

    def phase(self, job: JobRecord, phase: str, seconds: float) -> None:
        """A jobs.worker.PhaseTimer."""
        self._metrics.phase_seconds.labels(job.options.model.value, phase).observe(seconds)

    def observe(self, handle: JobHandler) -> JobHandler:
        """``handle``, counting this worker busy while it runs."""

        def busy(job: JobRecord) -> None:
            self._idle.set(0)
            self._busy.set(1)
            try:
                handle(job)
            finally:
                self._busy.set(0)
                self._idle.set(1)

        return busy
