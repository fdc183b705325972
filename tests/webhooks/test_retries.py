"""The retry schedule, Retry-After and what stops retrying: the decision on its own."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from imagetune.webhooks.delivery import (
    DELIVERED,
    FAILED,
    GONE,
    REFUSED,
    Result,
    next_delay,
    parse_retry_after,
)

SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def failed(code: int | None = 500, retry_after: float | None = None) -> Result:
    return Result(FAILED, code, 10, None, retry_after)


def test_each_step_of_the_schedule_with_twenty_percent_jitter() -> None:
    rng = random.Random(1)
    for attempt, step in enumerate(SCHEDULE, start=1):
        delays = [next_delay(failed(), attempt, SCHEDULE, rng) for _ in range(200)]
        assert all(d is not None and step * 0.8 <= d <= step * 1.2 for d in delays)
        assert len({round(d or 0, 6) for d in delays}) > 100  # jittered, not fixed


def test_given_up_after_the_schedule() -> None:
    assert next_delay(failed(), len(SCHEDULE) + 1, SCHEDULE) is None


@pytest.mark.parametrize("outcome", [DELIVERED, GONE, REFUSED])
def test_no_retry_after(outcome: str) -> None:
    assert next_delay(Result(outcome, 200, 1, None), 1, SCHEDULE) is None


def test_retry_after_later_than_the_schedule_is_honoured_and_capped() -> None:
    assert next_delay(failed(429, 120.0), 1, SCHEDULE) == 120.0
    assert next_delay(failed(503, 10**6), 1, SCHEDULE) == max(SCHEDULE)
    # Earlier than the schedule's step: the schedule wins.
    delay = next_delay(failed(503, 1.0), 2, SCHEDULE)
    assert delay is not None
    assert delay >= 240


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120.0
    later = email.utils.formatdate(time.time() + 600, usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None
    assert 590 <= seconds <= 600
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
