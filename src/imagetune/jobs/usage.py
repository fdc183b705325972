"""Usage accounting: one row per finished job, and the reports made from those rows.

``UsageRecorder`` is a JobStates observer: when a job succeeds or fails, its usage row is
inserted in the same transaction as the state change, so usage can never disagree with
the jobs (a rolled-back finish writes no row; a job finishes once, by JobStates' state
guard, so it has one row, also when it was retried or its result reused; the row's
primary key is the job id besides). The rows have no foreign key to jobs and nothing
deletes them: they outlive the retention purge.

The same observer adds each row into its day's totals (``usage_days``: per day, user,
model and scale), which is what reports and budgets read: a month of a million jobs is a
few thousand totals, so a report costs milliseconds, not a scan of the month's rows
(bench/usage.py). Totals are updated in key order, so two transactions finishing jobs of
the same keys wait for each other instead of deadlocking.

What a row counts (where the issue left it open, these are the project's choices):

- ``input_pixels``: the original's width x height, for every job;
- ``output_pixels``: the result's, only for a job that ran and succeeded; a failed job
  delivered nothing and a reused result cost no work, so both count 0;
- ``processing_ms``: from the final attempt's start to the finish (an interrupted earlier
  attempt is not added); 0 for a reused result;
- ``day``: the UTC date the job finished, which is also the month it is counted in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Connection, Row, cast, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from imagetune.db.models import Job, Usage, UsageDay, User
from imagetune.jobs.models import JobOptions, JobState
from imagetune.jobs.states import Change, Transition


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    """Ran and delivered a result."""
    FAILED = "failed"
    REUSED = "reused"
    """Succeeded at once with the results of the user's same earlier request
    (imagetune.jobs.reuse): never started by a worker."""


GROUPS = ("day", "user", "model", "scale")
"""What usage can be grouped by, in the order rows are sorted."""
MEGAPIXEL = 1_000_000


def megapixels(pixels: int) -> float:
    return round(pixels / MEGAPIXEL, 6)


class UsageRecorder:
    """Writes each finished job's usage row, inside the transaction that finished it."""

    def __call__(self, session: Session, transitions: Sequence[Transition]) -> None:
        finished = [t.job_id for t in transitions if t.change in (Change.SUCCEEDED, Change.FAILED)]
        if not finished:
            return
        found = session.execute(
            select(
                Job.id,
                Job.user_id,
                Job.state,
                Job.scale,
                Job.options,
                Job.started_at,
                Job.finished_at,
                Job.input_pixels,
                Job.output_pixels,
            ).where(Job.id.in_(finished))
        ).all()
        rows = [_row(job) for job in found]
        session.execute(insert(Usage), rows)
        _add_to_days(session, rows)


COUNTERS = (
    "jobs",
    "succeeded",
    "failed",
    "reused",
    "input_pixels",
    "output_pixels",
    "processing_ms",
)


def _add_to_days(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row["day"], row["user_id"], row["model"], row["scale"])
        total = totals.setdefault(
            key,
            {"day": key[0], "user_id": key[1], "model": key[2], "scale": key[3]}
            | dict.fromkeys(COUNTERS, 0),
        )
        total["jobs"] += 1
        total[row["outcome"]] += 1
        for counter in ("input_pixels", "output_pixels", "processing_ms"):
            total[counter] += row[counter]
    upsert = (
        postgresql.insert(UsageDay)
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert(UsageDay)
    )
    statement = upsert.on_conflict_do_update(
        index_elements=["day", "user_id", "model", "scale"],
        set_={name: getattr(UsageDay, name) + upsert.excluded[name] for name in COUNTERS},
    )
    for key in sorted(totals):
        session.execute(statement, totals[key])


def _row(job: Row[Any]) -> dict[str, Any]:
    assert job.finished_at is not None  # read in the transaction that finished it
    if job.state != JobState.SUCCEEDED.value:
        outcome = Outcome.FAILED
    elif job.started_at is None:  # only JobStore.create_reusing finishes an unstarted job
        outcome = Outcome.REUSED
    else:
        outcome = Outcome.SUCCEEDED
    processing_ms = 0
    if job.started_at is not None:
        processing_ms = round((job.finished_at - job.started_at).total_seconds() * 1000)
    return {
        "job_id": job.id,
        "user_id": job.user_id,
        "day": job.finished_at.astimezone(UTC).date(),
        "finished_at": job.finished_at,
        "model": JobOptions.from_json(job.options).model.value,
        "scale": job.scale,
        "outcome": outcome.value,
        "input_pixels": job.input_pixels or 0,
        "output_pixels": (job.output_pixels or 0) if outcome is Outcome.SUCCEEDED else 0,
        "processing_ms": processing_ms,
    }


# -- months, in UTC


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return (month_start(day) + timedelta(days=32)).replace(day=1)


def seconds_to_next_month(now: datetime) -> int:
    """Whole seconds from ``now`` until the next month begins (UTC), at least 1."""
    now = now.astimezone(UTC)
    turn = datetime.combine(next_month_start(now.date()), datetime.min.time(), UTC)
    return max(1, int((turn - now).total_seconds() + 0.999999))


# -- reports


@dataclass(frozen=True)
class UsageQuery:
    since: date
    until: date
    """Inclusive."""
    user_ids: Collection[int] | None = None
    """Only these users' usage; None: everyone's."""
    group_by: Sequence[str] = ()
    """A subset of GROUPS."""


class InvalidQuery(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def make_query(
    since: date | None,
    until: date | None,
    group_by: str | None,
    *,
    allowed: Sequence[str] = GROUPS,
    user_ids: Collection[int] | None = None,
) -> UsageQuery:
    """A query from what a person asked (the API's parameters, the CLI's options): by
    default this month so far; ``group_by`` comma-separated. InvalidQuery names what is
    wrong."""
    today = datetime.now(UTC).date()
    since = since or month_start(today)
    until = until or today
    groups = [name.strip() for name in (group_by or "").split(",") if name.strip()]
    if unknown := [name for name in groups if name not in allowed]:
        raise InvalidQuery(
            "group_by", f"unknown: {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
    if since > until:
        raise InvalidQuery("until", "must not be before since")
    return UsageQuery(since, until, user_ids, [name for name in GROUPS if name in groups])


@dataclass(frozen=True)
class UsageRow:
    """Totals over the finished jobs of one group (only the grouped fields are set)."""

    jobs: int
    """succeeded + failed + reused."""
    succeeded: int
    failed: int
    reused: int
    input_pixels: int
    output_pixels: int
    processing_ms: int
    day: date | None = None
    user: str | None = None
    model: str | None = None
    scale: str | None = None

    def report(self) -> dict[str, object]:
        """As the admin API, the public usage route and the CLI show it: the grouped
        fields, the counts, megapixels and seconds."""
        grouped = {name: getattr(self, name) for name in GROUPS}
        return {
            **{name: value for name, value in grouped.items() if value is not None},
            "jobs": self.jobs,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "reused": self.reused,
            "input_megapixels": megapixels(self.input_pixels),
            "output_megapixels": megapixels(self.output_pixels),
            "processing_seconds": round(self.processing_ms / 1000, 3),
        }


_GROUP_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "day": UsageDay.day,
    "user": UsageDay.user_id,
    "model": UsageDay.model,
    "scale": UsageDay.scale,
}


def usage_rows(connection: Connection, query: UsageQuery) -> list[UsageRow]:
    """The usage ``query`` asks for: one row per group, sorted by the grouped fields;
    without groups, one row of totals (zeros when nothing finished)."""
    groups = [name for name in GROUPS if name in query.group_by]
    keys = [_GROUP_COLUMNS[name] for name in groups]
    if len(groups) == len(GROUPS):
        # Grouped by the whole primary key: the totals as they are, in the key's order.
        statement = select(*keys, *(getattr(UsageDay, name) for name in COUNTERS))
    else:
        statement = select(
            *keys,
            # As integers: PostgreSQL sums BIGINT as NUMERIC, a Decimal per value here.
            *(
                cast(func.coalesce(func.sum(getattr(UsageDay, name)), 0), BigInteger)
                for name in COUNTERS
            ),
        ).group_by(*keys)
    statement = statement.where(UsageDay.day >= query.since, UsageDay.day <= query.until).order_by(
        *keys
    )
    if query.user_ids is not None:
        statement = statement.where(UsageDay.user_id.in_(list(query.user_ids)))
    found = connection.execute(statement).all()
    names: dict[int, str] = {}
    if "user" in groups:
        # Names apart: the report's own statement stays on one table.
        ids = {row[groups.index("user")] for row in found}
        names = dict(connection.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    # The finest report is tens of thousands of rows: plain positions, nothing per field.
    where = {name: groups.index(name) if name in groups else None for name in GROUPS}
    day, user, model, scale = (where[name] for name in GROUPS)
    n = len(groups)
    return [
        UsageRow(
            row[n],
            row[n + 1],
            row[n + 2],
            row[n + 3],
            row[n + 4],
            row[n + 5],
            row[n + 6],
            day=None if day is None else row[day],
            user=None if user is None else names.get(row[user], str(row[user])),
            model=None if model is None else row[model],
            scale=None if scale is None else row[scale],
        )
        for row in found
    ]
