"""A clock that tests move by hand (see imagetune.clock)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from imagetune.clock import utcnow


class FakeClock:
    """Starts at the real time (so rows written by processes on the system clock compare
    sensibly) and moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
