"""The pool of worker processes that `imagetune serve` runs beside the API, and that
`imagetune worker` runs alone, with the supervisor thread that keeps it whole.

A supervisor thread replaces a worker that dies and hands its job back to the queue (the
attempt counts, so a job that kills workers ends Failed instead of looping), fails jobs
past the time limit, and takes back the jobs of stalled workers on other hosts (fleet
queue). Stopping lets workers finish the job in hand for a grace period, then hands back
what is left.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from imagetune.errors import took_too_long
from imagetune.jobs.queue import JobQueue

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = 0.5
QUICK_DEATH = 10.0
"""A worker that dies younger than this (seconds) counts towards the respawn back-off."""
MAX_RESPAWN_DELAY = 30.0

WorkerTarget = Callable[[str, int | None, Event], None]
"""A worker process's main, called with its worker id, its Vulkan device index (None: the
CPU) and the pool's stop event; it must be picklable (worker processes are spawned): a
module-level function, or a partial of one."""


@dataclass
class _Slot:
    worker_id: str
    process: SpawnProcess
    started: float = field(default_factory=time.monotonic)
    respawn_at: float | None = None
    """Set once the death is handled: when to replace it."""
    gpu_index: int | None = None


def respawn_delay(quick_deaths: int) -> float:
    """Seconds before replacing a worker after ``quick_deaths`` deaths in a row, each soon
    after its start: none for the first (a job that killed it), then 1, 2, 4 ... 30, so a
    worker that cannot start (database unreachable, say) is not respawned twice a second."""
    if quick_deaths <= 1:
        return 0.0
    return min(MAX_RESPAWN_DELAY, 2.0 ** (quick_deaths - 2))


class WorkerPool:
    def __init__(
        self,
        queue: JobQueue,
        devices: Sequence[int | None],
        *,
        target: WorkerTarget,
        host_name: str,
        job_timeout: float,
        sweep_interval: float,
        device: str = "CPU",
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self._queue = queue
        self._devices = list(devices)
        """Each worker's Vulkan device index (None: the CPU); a replacement keeps it."""
        self._size = len(self._devices)
        self.device = device
        """The devices the workers run on, in words (/readyz shows it)."""
        self._on_exit = on_exit
        """Called with the pid of each worker process that ended (metrics bookkeeping)."""
        self._target = target
        self._host = host_name
        self._job_timeout = job_timeout
        self._sweep_interval = sweep_interval
        self._next_sweep = 0.0
        self._lost: list[str] = []
        self._quick_deaths = 0
        self._failing = False
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
            self._slots = [self._spawn(gpu_index) for gpu_index in self._devices]
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
            self._exited(slot)
            released = self._queue.release(slot.worker_id, count_attempt=False)
            if released.requeued:
                log.info("handed %d unfinished job(s) back to the queue", released.requeued)

    def _stop_overdue(self) -> None:
        """Fail jobs past the time limit and kill their workers (replaced next round)."""
        timeout = self._job_timeout
        cutoff = datetime.now(UTC) - timedelta(seconds=timeout)
        with self._lock:
            mine = [slot.worker_id for slot in self._slots]
        overdue = set(self._queue.fail_overdue(cutoff, took_too_long(timeout), mine))
        if not overdue:
            return
        with self._lock:
            for slot in self._slots:
                if slot.worker_id in overdue and slot.process.is_alive():
                    log.error("worker %s ran past %gs; stopping it", slot.worker_id, timeout)
                    slot.process.kill()

    def _spawn(self, gpu_index: int | None) -> _Slot:
        worker_id = f"{self._host}:{uuid.uuid4().hex[:12]}"
        process = self._context.Process(
            target=self._target,
            args=(worker_id, gpu_index, self._stop),
            name=f"worker-{worker_id.rsplit(':', 1)[1][:6]}",
            daemon=True,
        )
        process.start()
        return _Slot(worker_id, process, gpu_index=gpu_index)

    def _sweep_stalled(self) -> None:
        """Every heartbeat interval: take back jobs whose workers, anywhere, went quiet."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_interval
        self._queue.sweep_stalled()

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_INTERVAL):
            with self._lock:
                for index, slot in enumerate(self._slots):
                    if slot.process.is_alive() or self._stopping.is_set():
                        continue
                    if slot.respawn_at is None:
                        self._handle_death(slot)
                    if time.monotonic() >= (slot.respawn_at or 0.0):
                        self._slots[index] = self._spawn(slot.gpu_index)
            try:
                self._release_lost()
                self._stop_overdue()
                self._sweep_stalled()
            except Exception:  # the database away for a while: try again next round
                if not self._failing:  # once per outage, not twice a second
                    log.exception("supervising workers failed; retrying until it works")
                self._failing = True
            else:
                if self._failing:
                    log.warning("supervising workers works again")
                self._failing = False

    def _handle_death(self, slot: _Slot) -> None:
        slot.process.join()
        self._exited(slot)
        now = time.monotonic()
        self._quick_deaths = self._quick_deaths + 1 if now - slot.started < QUICK_DEATH else 0
        delay = respawn_delay(self._quick_deaths)
        slot.respawn_at = now + delay
        log.error(
            "worker %s exited with code %s%s",
            slot.worker_id,
            slot.process.exitcode,
            f"; replacing it in {delay:g} s" if delay else "",
        )
        self._lost.append(slot.worker_id)

    def _exited(self, slot: _Slot) -> None:
        if self._on_exit is not None and slot.process.pid is not None:
            self._on_exit(slot.process.pid)

    def _release_lost(self) -> None:
        """Hand back the jobs of workers that died (kept for the next round on failure)."""
        while self._lost:
            released = self._queue.release(self._lost[0], count_attempt=True)
            log.error(
                "worker %s lost: %d job(s) re-queued, %d failed after too many tries",
                self._lost.pop(0),
                released.requeued,
                released.failed,
            )
