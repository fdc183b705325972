"""Deleting originals and results once their retention period is over."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from imagetune.jobs.states import JobStates
from imagetune.jobs.store import JobStore
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)


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
        while not self._stop.wait(self._interval):
            try:
                now = self._states.clock()
                if purged := purge_expired(self._jobs, self._states, self._storage, now):
                    log.info("deleted the files of %d expired job(s)", purged)
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("purging expired files failed")
