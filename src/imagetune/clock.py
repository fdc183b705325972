"""The time, as one injectable function.

What decides by the wall clock (a job's timestamps and retention, signed URLs, the
Idempotency-Key window, webhook schedules) takes a ``Clock`` as an argument, defaulting
to ``utcnow``, so tests move time instead of sleeping through it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware in UTC."""


def utcnow() -> datetime:
    return datetime.now(UTC)
