"""Deleting originals and results once their retention period is over, and originals no
job refers to (a process that died between storing an upload and recording its job, or
whose clean-up failed with the storage away)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from imagetune.jobs.states import JobStates
from imagetune.jobs.store import JobStore
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)

ORPHAN_AGE = timedelta(hours=1)
"""An original older than this with no job is an orphan: a submission records its job
within a second of storing the original, or deletes it."""
ORPHAN_SWEEP_INTERVAL = 3600.0
"""Seconds between sweeps for orphans (each lists every stored original)."""
ORIGINALS = "originals/"


def purge_expired(jobs: JobStore, states: JobStates, storage: Storage, now: datetime) -> int:
    """Delete the files of every job expired by ``now``; how many jobs were purged."""
    purged = 0
    while batch := jobs.expired(now):
        for job in batch:
            # Files shared with a job that reused this one's result stay for that job.
            if not jobs.shares_files(job):
                for key in (job.original_key, *job.result_keys):
                    storage.delete(key)
            states.purge(job.id)
            purged += 1
    return purged


def purge_orphans(jobs: JobStore, storage: Storage, now: datetime) -> int:
    """Delete the originals stored before ``now`` - ORPHAN_AGE that no job refers to;
    how many were deleted."""
    old = list(storage.written_before(ORIGINALS, now - ORPHAN_AGE))
    deleted = 0
    for start in range(0, len(old), 500):
        batch = old[start : start + 500]
        for key in set(batch) - jobs.known_originals(batch):
            storage.delete(key)
            deleted += 1
    return deleted


class Purger:
    """A thread that runs purge_expired every ``interval`` seconds."""

    def __init__(
        self, jobs: JobStore, states: JobStates, storage: Storage, interval: float
    ) -> None:
        self._jobs = jobs
        self._states = states
        self._storage = storage
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="purger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_orphan_sweep = time.monotonic() + self._interval
        while not self._stop.wait(self._interval):
            try:
                now = self._states.clock()
                if purged := purge_expired(self._jobs, self._states, self._storage, now):
                    log.info("deleted the files of %d expired job(s)", purged)
                if time.monotonic() >= next_orphan_sweep:
                    next_orphan_sweep = time.monotonic() + ORPHAN_SWEEP_INTERVAL
                    if orphans := purge_orphans(self._jobs, self._storage, now):
                        log.warning("deleted %d original(s) that no job refers to", orphans)
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("purging expired files failed")
