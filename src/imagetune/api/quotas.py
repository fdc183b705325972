"""Per-user submission quotas and the global queue cap.

The unfinished-jobs caps count the jobs table, so they hold for every API process that
shares the database. The rate limit is a token bucket per user: in the API process on
SQLite (one host), in the database on PostgreSQL (SharedRateLimiter), so that N API
replicas allow the configured rate, not N times it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import URL, create_engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from imagetune.db.models import RateBucket
from imagetune.errors import TryLater
from imagetune.jobs.budgets import Budgets
from imagetune.jobs.store import JobStore


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset: int
    """Seconds until the bucket is full again."""

    def headers(self) -> dict[str, str]:
        # The IETF RateLimit header fields draft, in its widely deployed separate form.
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w=60",
        }


class Limiter(Protocol):
    per_minute: int

    def take(self, user_id: int) -> tuple[bool, RateState]:
        """Take one token for ``user_id``: (allowed, the state after)."""

    def close(self) -> None:
        """Let go of what it holds (database connections)."""


def _state(per_minute: int, tokens: float) -> RateState:
    missing = per_minute - tokens
    return RateState(
        limit=per_minute,
        remaining=int(tokens),
        reset=math.ceil(missing / (per_minute / 60.0)) if missing > 0 else 0,
    )


class RateLimiter:
    """A token bucket per user: ``per_minute`` submissions, refilled continuously.

    In-process: each API process keeps its own buckets.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, user_id: int) -> tuple[bool, RateState]:
        """Take one token for ``user_id``: (allowed, the state after)."""
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(user_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[user_id] = (tokens, now)
        return allowed, _state(self.per_minute, tokens)

    def close(self) -> None:
        """Nothing held: the buckets are this process's memory."""


class SharedRateLimiter:
    """The same token buckets, kept in PostgreSQL (rate_buckets) for every API process.

    An admitted submission costs one UPDATE (refill and take, guarded, on the database's
    clock so hosts need not agree on the time); only a user's first submission and a
    refusal cost one to three statements more. Each statement commits by itself, without
    waiting for the WAL flush (``synchronous_commit=off`` on this limiter's connections):
    a bucket update lost in a database crash only lets a user one submission more.
    bench/faults.py --rate measures the cost.
    """

    def __init__(self, per_minute: int, url: URL) -> None:
        self.per_minute = per_minute
        self._engine = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_pre_ping=True,
            connect_args={"options": "-c synchronous_commit=off"},
        )

    def close(self) -> None:
        self._engine.dispose()

    def take(self, user_id: int) -> tuple[bool, RateState]:
        bucket = RateBucket.__table__.c
        elapsed = func.extract("epoch", func.now() - bucket.updated_at)
        refilled = func.least(float(self.per_minute), bucket.tokens + elapsed * self._rate)
        mine = bucket.user_id == user_id
        take = (
            update(RateBucket)
            .where(mine, refilled >= 1.0)
            .values(tokens=refilled - 1.0, updated_at=func.now())
            .returning(bucket.tokens)
        )
        with self._engine.connect() as connection:
            tokens = connection.scalar(take)
            if tokens is not None:
                return True, _state(self.per_minute, tokens)
            tokens = connection.scalar(  # the user's first submission: a full bucket
                insert(RateBucket)
                .values(user_id=user_id, tokens=self.per_minute - 1.0, updated_at=func.now())
                .on_conflict_do_nothing()
                .returning(bucket.tokens)
            )
            if tokens is None:
                # A concurrent first submission made the bucket between the two statements:
                # take from it as from any other.
                tokens = connection.scalar(take)
            if tokens is not None:
                return True, _state(self.per_minute, tokens)
            left = connection.scalar(select(refilled).where(mine))
        return False, _state(self.per_minute, float(left or 0.0))

    @property
    def _rate(self) -> float:
        return self.per_minute / 60.0


@dataclass
class Quotas:
    limiter: Limiter | None
    jobs: JobStore
    max_unfinished_per_user: int
    max_queue_length: int
    budgets: Budgets | None = None

    def admit(self, user_id: int) -> dict[str, str]:
        """Headers for an admitted submission; raises TryLater (429/503) otherwise."""
        if self.budgets:  # first: a user out of budget spends no rate-limit token
            self.budgets.check(user_id)
        headers: dict[str, str] = {}
        if self.limiter:
            allowed, state = self.limiter.take(user_id)
            headers = state.headers()
            if not allowed:
                wait = math.ceil(60 / self.limiter.per_minute)
                raise TryLater(
                    429,
                    f"Rate limit exceeded: {self.limiter.per_minute} submissions per minute",
                    wait,
                    reason="rate_limit",
                    **headers,
                )
        if self.max_unfinished_per_user:
            unfinished = self.jobs.count_unfinished(user_id)
            if unfinished >= self.max_unfinished_per_user:
                raise TryLater(
                    429,
                    f"Too many unfinished jobs: {unfinished} of "
                    f"{self.max_unfinished_per_user} allowed; wait for some to finish",
                    5,
                    reason="unfinished_cap",
                    **headers,
                )
        if self.max_queue_length and self.jobs.count_unfinished(None) >= self.max_queue_length:
            # 429, not 503: the service is healthy, only busy; 5xx stays for real faults.
            raise TryLater(
                429, "The queue is full; try again shortly", 10, reason="queue_cap", **headers
            )
        return headers
