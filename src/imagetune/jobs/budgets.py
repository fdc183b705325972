"""Monthly output-megapixel budgets.

What a user has used of a month's budget is what their jobs finished this month
delivered (their usage's daily totals: a reused result and a failed job count 0) plus what their
unfinished jobs will deliver (each job's ``output_pixels``, exact from the original's
size and the scale, recorded at submission). One statement reads both, so a job that
finishes meanwhile is counted once, as unfinished or as finished, never twice or not at
all.

A submission is admitted while the budget is not used up and its job fits in what is
left (a reused result adds nothing). ``charge`` decides inside the transaction that
records the job, after taking a lock on the user's budget row (an UPDATE: a row lock on
PostgreSQL, the database's write lock on SQLite), so submissions of one user are decided
one at a time across every API process: no budget is ever overrun. ``check`` is the same
question asked before the upload is read, without the lock, so a user whose budget is used
up is refused without sending the file; it may let through what ``charge`` then refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import Clock, utcnow
from imagetune.db.models import Budget, Job, UsageDay
from imagetune.errors import TryLater
from imagetune.jobs.models import NewJob
from imagetune.jobs.states import UNFINISHED
from imagetune.jobs.usage import month_start, next_month_start, seconds_to_next_month

MAX_MEGAPIXELS = 1_000_000_000_000
"""The largest budget accepted (its pixels still fit a 64-bit integer)."""


class BudgetExceeded(TryLater):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "Monthly budget exceeded", retry_after, reason="budget")


@dataclass(frozen=True)
class BudgetState:
    monthly_output_pixels: int
    used_output_pixels: int
    """This month's delivered output plus what unfinished jobs will deliver."""
    resets_at: datetime
    """When the next month begins (UTC)."""

    @property
    def used_up(self) -> bool:
        return self.used_output_pixels >= self.monthly_output_pixels

    def admits(self, output_pixels: int) -> bool:
        return not self.used_up and (
            self.used_output_pixels + output_pixels <= self.monthly_output_pixels
        )


class Budgets:
    def __init__(self, sessions: sessionmaker[Session], now: Clock = utcnow) -> None:
        self._sessions = sessions
        self._now = now

    def set(self, user_id: int, monthly_output_pixels: int | None) -> None:
        """Set the user's budget, or clear it with None."""
        with self._sessions.begin() as session:
            session.execute(delete(Budget).where(Budget.user_id == user_id))
            if monthly_output_pixels is not None:
                session.add(
                    Budget(
                        user_id=user_id,
                        monthly_output_pixels=monthly_output_pixels,
                        updated_at=self._now(),
                    )
                )

    def all(self) -> dict[int, int]:
        """Every user's budget in pixels, by user id."""
        with self._sessions() as session:
            rows = session.execute(select(Budget.user_id, Budget.monthly_output_pixels)).all()
        return {user_id: int(pixels) for user_id, pixels in rows}

    def state(self, user_id: int) -> BudgetState | None:
        """The user's budget and its use this month; None without a budget."""
        now = self._now()
        with self._sessions() as session:
            row = session.execute(
                select(Budget.monthly_output_pixels, self._used(user_id, now)).where(
                    Budget.user_id == user_id
                )
            ).one_or_none()
        return None if row is None else self._state(int(row[0]), int(row[1]), now)

    def check(self, user_id: int) -> None:
        """Raise BudgetExceeded when the user's budget is used up (before the upload)."""
        state = self.state(user_id)
        if state is not None and state.used_up:
            raise BudgetExceeded(seconds_to_next_month(self._now()))

    def charge(self, session: Session, job: NewJob, *, reused: bool) -> None:
        """Inside the transaction that records ``job``: raise BudgetExceeded (rolling it
        back) unless the job fits in its user's budget."""
        budget = session.scalar(
            update(Budget)
            .where(Budget.user_id == job.user_id)
            .values(monthly_output_pixels=Budget.monthly_output_pixels)
            .returning(Budget.monthly_output_pixels)
        )
        if budget is None:
            return
        now = self._now()
        used = int(session.scalar(select(self._used(job.user_id, now))) or 0)
        state = self._state(int(budget), used, now)
        if not state.admits(0 if reused else job.output_pixels or 0):
            raise BudgetExceeded(seconds_to_next_month(now))

    @staticmethod
    def _used(user_id: int, now: datetime) -> ColumnElement[int]:
        delivered = (
            select(func.coalesce(func.sum(UsageDay.output_pixels), 0))
            .where(
                UsageDay.user_id == user_id,
                UsageDay.day >= month_start(now.astimezone(UTC).date()),
            )
            .scalar_subquery()
        )
        reserved = (
            select(func.coalesce(func.sum(Job.output_pixels), 0))
            .where(Job.user_id == user_id, Job.state.in_(UNFINISHED))
            .scalar_subquery()
        )
        return delivered + reserved

    @staticmethod
    def _state(budget: int, used: int, now: datetime) -> BudgetState:
        turn = next_month_start(now.astimezone(UTC).date())
        return BudgetState(budget, used, datetime.combine(turn, datetime.min.time(), UTC))
