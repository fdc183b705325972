"""The pool of worker processes that `imagetune serve` runs beside the API.

A supervisor thread replaces a worker that dies and hands its job back to the queue (the
attempt counts, so a job that kills workers ends Failed instead of looping). Stopping lets
workers finish the job in hand for a grace period, then hands back what is left.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.context import SpawnProcess

from imagetune.config import Settings
from imagetune.jobs.queue import JobQueue
from imagetune.jobs.worker import worker_main

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = 0.5


@dataclass
class _Slot:
    worker_id: str
    process: SpawnProcess


class WorkerPool:
    def __init__(self, settings: Settings, queue: JobQueue, size: int) -> None:
        self._settings = settings
        self._queue = queue
        self._size = size
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def size(self) -> int:
        return self._size

    def alive(self) -> int:
        with self._lock:
            return sum(slot.process.is_alive() for slot in self._slots)

    def start(self) -> None:
        with self._lock:
            self._slots = [self._spawn() for _ in range(self._size)]
        self._supervisor = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info("started %d worker process(es)", self._size)

    def stop(self, grace: float) -> None:
        self._stopping.set()
        self._stop.set()
        if self._supervisor:
            self._supervisor.join()
        with self._lock:
            slots, self._slots = self._slots, []
        for slot in slots:
            slot.process.join(grace)
        for slot in slots:
            if slot.process.is_alive():
                log.info("worker %s still busy after %.0fs; stopping it", slot.worker_id, grace)
                slot.process.terminate()
                slot.process.join(5)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join()
            released = self._queue.release(slot.worker_id, count_attempt=False)
            if released.requeued:
                log.info("handed %d unfinished job(s) back to the queue", released.requeued)

    def _stop_overdue(self) -> None:
        """Fail jobs past the time limit and kill their workers (replaced next round)."""
        timeout = self._settings.job_timeout
        cutoff = datetime.now(UTC) - timedelta(seconds=timeout)
        reason = f"Processing took longer than the {timeout:g} s limit"
        overdue = set(self._queue.fail_overdue(cutoff, reason))
        if not overdue:
            return
        with self._lock:
            for slot in self._slots:
                if slot.worker_id in overdue and slot.process.is_alive():
                    log.error("worker %s ran past %gs; stopping it", slot.worker_id, timeout)
                    slot.process.kill()

    def _spawn(self) -> _Slot:
        worker_id = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        process = self._context.Process(
            target=worker_main,
            args=(self._settings, worker_id, self._stop),
            name=f"worker-{worker_id.rsplit(':', 1)[1][:6]}",
            daemon=True,
        )
        process.start()
        return _Slot(worker_id, process)

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_INTERVAL):
            self._stop_overdue()
            with self._lock:
                for index, slot in enumerate(self._slots):
                    if slot.process.is_alive() or self._stopping.is_set():
                        continue
                    slot.process.join()
                    released = self._queue.release(slot.worker_id, count_attempt=True)
                    log.error(
                        "worker %s exited with code %s; %d job(s) re-queued, %d failed",
                        slot.worker_id,
                        slot.process.exitcode,
                        released.requeued,
                        released.failed,
                    )
                    self._slots[index] = self._spawn()
