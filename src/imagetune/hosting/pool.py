"""The pool of worker processes that `imagetune serve` runs beside the API, and that
`imagetune worker` runs alone, with the supervisor thread that keeps it whole.

A supervisor thread replaces a worker that dies and hands its job back to the queue (the
attempt counts, so a job that kills workers ends Failed instead of looping), fails jobs
past the time limit, and takes back the jobs of stalled workers on other hosts (fleet
queue). Stopping lets workers finish the job in hand for a grace period, then hands back
what is left.

Each worker process tells the supervisor through a pipe when it is ready to take jobs, or
why it could not start; a pool none of whose processes has got that far for a while is
in a crash loop, and ``health()`` says so, with the last error (/readyz, and through the
database `imagetune status`, show it).
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
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from imagetune.errors import took_too_long
from imagetune.jobs.queue import JobQueue
from imagetune.processes import CANNOT_START, start_child

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = 0.5
QUICK_DEATH = 10.0
"""A worker that dies younger than this (seconds) counts towards the respawn back-off."""
MAX_RESPAWN_DELAY = 30.0
OVERDUE_GRACE = 5.0
"""Seconds past its time limit before the supervisor fails a job and kills its worker. A job
checks its own deadline as it goes (the engine between tiles) and stops itself, and its
worker lives on; the kill is the backstop for one that hangs. Without the grace the two
raced on a busy machine, and the kill won."""

READY = "ready"
"""What a worker process sends on its report pipe once it takes jobs; anything else it
sends is why it could not."""

WorkerTarget = Callable[[str, int | None, Connection], None]
"""A worker process's main, called with its worker id, its Vulkan device index (None: the
CPU) and the pipe to report on (READY, or the error it ends with); it must be picklable
(it is handed to a fork server: imagetune.processes): a module-level function, or a
partial of one. SIGTERM asks it to finish the job in hand and exit."""


@dataclass
class _Slot:
    worker_id: str
    process: BaseProcess
    reports: Connection
    started: float = field(default_factory=time.monotonic)
    respawn_at: float | None = None
    """Set once the death is handled: when to replace it."""
    gpu_index: int | None = None
    ready: bool = False
    error: str | None = None
    """What the process said it failed with."""

    def read_reports(self) -> None:
        try:
            while self.reports.poll():
                message = self.reports.recv()
                if message == READY:
                    self.ready = True
                else:
                    self.error = str(message)
        except (EOFError, OSError):  # it has exited and everything it said was read
            pass


@dataclass(frozen=True)
class PoolHealth:
    """How a host's worker processes are doing, for readiness and `imagetune status`."""

    expected: int
    alive: int
    """Running and ready to take jobs."""
    failing_since: datetime | None
    """Since when every process started has died before it was ready (a crash loop)."""
    last_error: str | None
    """Why the last process that died before it was ready did."""
    trouble: str | None
    """In words, what is wrong when the crash loop has lasted past the start deadline."""


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
        start_deadline: float = 30.0,
        on_health: Callable[[PoolHealth], None] | None = None,
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
        self._start_deadline = start_deadline
        self._on_health = on_health
        """Told the pool's health every sweep interval (kept in the database)."""
        self._failing_since: float | None = None
        self._last_error: str | None = None
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

    def trouble(self) -> str | None:
        return self.health().trouble

    def health(self) -> PoolHealth:
        with self._lock:
            for slot in self._slots:
                slot.read_reports()
            ready = sum(slot.ready and slot.process.is_alive() for slot in self._slots)
            failing_since, last_error = self._failing_since, self._last_error
        trouble = None
        now = time.monotonic()
        if failing_since is not None and not ready and now - failing_since >= self._start_deadline:
            trouble = (
                f"no worker process has started for {now - failing_since:.0f} s; "
                f"the last one: {last_error}"
            )
        return PoolHealth(
            expected=self._size,
            alive=ready,
            failing_since=None
            if failing_since is None
            else datetime.now(UTC) - timedelta(seconds=now - failing_since),
            last_error=last_error,
            trouble=trouble,
        )

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
        if self._supervisor:
            self._supervisor.join()
        with self._lock:
            slots, self._slots = self._slots, []
        # A signal, not a multiprocessing.Event: an Event is five named semaphores, which a
        # server stopped by SIGTERM (uvicorn re-raises it: no atexit) never unlinks, and
        # the resource tracker warns about at every stop.
        for slot in slots:
            if slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + grace
        for slot in slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
        for slot in slots:
            if slot.process.is_alive():
                log.info("worker %s still busy after %.0fs; stopping it", slot.worker_id, grace)
                slot.process.kill()
                slot.process.join()
            self._exited(slot)
            slot.reports.close()
            released = self._queue.release(slot.worker_id, count_attempt=False)
            if released.requeued:
                log.info("handed %d unfinished job(s) back to the queue", released.requeued)

    def _stop_overdue(self) -> None:
        """Fail jobs past the time limit and its grace, and kill their workers (replaced
        next round)."""
        timeout = self._job_timeout
        cutoff = datetime.now(UTC) - timedelta(seconds=timeout + OVERDUE_GRACE)
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
        reports, report_end = multiprocessing.Pipe(duplex=False)
        # The child's end is closed here once it has it: EOF on ours once it has exited.
        process = start_child(
            self._target,
            (worker_id, gpu_index, report_end),
            name=f"worker-{worker_id.rsplit(':', 1)[1][:6]}",
            own_ends=(reports,),
        )
        return _Slot(worker_id, process, reports, gpu_index=gpu_index)

    def _sweep_stalled(self) -> None:
        """Every heartbeat interval: take back jobs whose workers, anywhere, went quiet."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_interval
        if self._on_health is not None:
            self._on_health(self.health())
        self._queue.sweep_stalled()

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_INTERVAL):
            with self._lock:
                for index, slot in enumerate(self._slots):
                    if slot.process.is_alive() or self._stopping.is_set():
                        slot.read_reports()
                        if slot.ready:
                            self._failing_since = None
                        continue
                    if slot.respawn_at is None:
                        self._handle_death(slot)
                    if time.monotonic() >= (slot.respawn_at or 0.0):
                        try:
                            self._slots[index] = self._spawn(slot.gpu_index)
                        except CANNOT_START:  # memory, the process limit: try again later
                            log.exception("could not start a worker process; retrying")
                            slot.respawn_at = time.monotonic() + MAX_RESPAWN_DELAY
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
        slot.read_reports()
        slot.reports.close()
        now = time.monotonic()
        if not slot.ready:
            self._last_error = slot.error or f"exited with code {slot.process.exitcode}"
            if self._failing_since is None:
                self._failing_since = now
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
