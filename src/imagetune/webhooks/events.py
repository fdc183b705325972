"""What a webhook is sent for."""

from __future__ import annotations

from enum import StrEnum

from imagetune.jobs.states import Change


class Filter(StrEnum):
    """Values of the ``webhook_events_filter`` form field."""

    START = "start"
    """``job.started``, when a worker starts the job."""
    COMPLETED = "completed"
    """``job.succeeded`` or ``job.failed``, when it ends."""


class Event(StrEnum):
    STARTED = "job.started"
    SUCCEEDED = "job.succeeded"
    FAILED = "job.failed"


DEFAULT_FILTER = (Filter.COMPLETED,)

EVENTS: dict[Change, tuple[Event, Filter]] = {
    Change.STARTED: (Event.STARTED, Filter.START),
    Change.SUCCEEDED: (Event.SUCCEEDED, Filter.COMPLETED),
    Change.FAILED: (Event.FAILED, Filter.COMPLETED),
}
"""The job changes that send a message, and the filter value that asks for it."""


def parse_filter(text: str | None) -> tuple[Filter, ...]:
    """``"start,completed"`` as filters in a fixed order; ValueError naming an unknown one."""
    if not text or not text.strip():
        return DEFAULT_FILTER
    chosen = set()
    for part in text.split(","):
        name = part.strip()
        try:
            chosen.add(Filter(name))
        except ValueError:
            known = ", ".join(f.value for f in Filter)
            raise ValueError(
                f"unknown event {name!r}; use a comma-separated list of {known}"
            ) from None
    return tuple(f for f in Filter if f in chosen)


def to_text(filters: tuple[Filter, ...]) -> str:
    return ",".join(f.value for f in filters)


def from_text(text: str) -> tuple[Filter, ...]:
    return tuple(Filter(part) for part in text.split(",") if part)
