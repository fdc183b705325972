"""Usage rows against the jobs that produced them, and budgets, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imagetune.db.models import Job, Usage
from imagetune.engine.models import ModelName
from imagetune.jobs.budgets import BudgetExceeded, Budgets
from imagetune.jobs.models import JobOptions, NewJob, Scale
from imagetune.jobs.states import Change, Transition
from imagetune.jobs.store import JobStore
from imagetune.jobs.usage import (
    UsageQuery,
    UsageRecorder,
    UsageRow,
    month_start,
    next_month_start,
    seconds_to_next_month,
    usage_rows,
)
from tests.factories import JobWorld

WIDE = (640, 480)
"""An original whose 1K result is 1024 x 768."""


class UsageWorld(JobWorld):
    """A JobWorld whose state changes are accounted and whose submissions are charged
    against budgets, as wiring.jobs builds them."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.states.observe(UsageRecorder())
        self.budgets = Budgets(self.sessions)
        self.store = JobStore(self.states, self.queue.dispatch, admit=self.budgets.charge)

    def new_job(self, scale: Scale = Scale.K1, model: ModelName = ModelName.PHOTO) -> NewJob:
        job_id = uuid.uuid4()
        return NewJob(
            job_id,
            self.user_id,
            scale,
            f"originals/{job_id}",
            JobOptions(model=model),
            fingerprint=f"{scale}-{model}",
            input_pixels=WIDE[0] * WIDE[1],
            output_pixels=scale.output_pixels(*WIDE),
        )

    def run(self, job: NewJob, *, succeed: bool = True) -> uuid.UUID:
        """Create ``job``, have a worker take it and finish it."""
        self.store.create(job)
        claimed = self.queue.claim("w")
        assert claimed is not None
        assert claimed.id == job.id
        if succeed:
            assert self.states.succeed(job.id, [f"results/{job.id}.png"])
        else:
            assert self.states.fail(job.id, "The image could not be processed")
        return job.id

    def usage(self) -> dict[uuid.UUID, Usage]:
        with self.sessions() as session:
            return {row.job_id: row for row in session.scalars(select(Usage)).all()}

    def jobs(self) -> dict[uuid.UUID, Job]:
        with self.sessions() as session:
            return {job.id: job for job in session.scalars(select(Job)).all()}


@pytest.fixture
def world(database_url: str) -> UsageWorld:
    return UsageWorld(database_url)


def test_every_finished_job_has_one_usage_row_that_agrees_with_it(world: UsageWorld) -> None:
    one_k = Scale.K1.output_pixels(*WIDE)
    succeeded = world.run(world.new_job())
    failed = world.run(world.new_job(Scale.K2, ModelName.CLASSIC), succeed=False)
    # The same request again: answered with the first job's results, never started.
    reused_job = world.new_job()
    assert world.store.create_reusing(reused_job)
    # Lost twice mid-job, then done: one row, for the attempt that finished.
    retried_job = world.new_job(Scale.K4)
    world.store.create(retried_job)
    for _ in range(2):
        assert world.queue.claim("w") is not None
        world.queue.release("w", count_attempt=True)
    assert world.queue.claim("w") is not None
    assert world.states.succeed(retried_job.id, ["results/r.png"])
    assert not world.states.succeed(retried_job.id, ["results/again.png"])  # a late duplicate
    assert not world.states.fail(succeeded, "late failure")
    unfinished = world.new_job()
    world.store.create(unfinished)

    usage, jobs = world.usage(), world.jobs()
    assert set(usage) == {succeeded, failed, reused_job.id, retried_job.id}
    for job_id, row in usage.items():
        job = jobs[job_id]
        assert job.finished_at is not None
        assert (row.user_id, row.scale, row.finished_at) == (
            job.user_id,
            job.scale,
            job.finished_at,
        )
        assert row.day == job.finished_at.astimezone(UTC).date()
        assert row.model == job.options["model"]
        assert row.input_pixels == WIDE[0] * WIDE[1]
        if job.started_at is not None:
            ran_ms = (job.finished_at - job.started_at).total_seconds() * 1000
            assert abs(row.processing_ms - ran_ms) <= 1
    outcomes = {job_id: (row.outcome, row.output_pixels) for job_id, row in usage.items()}
    assert outcomes == {
        succeeded: ("succeeded", one_k),
        failed: ("failed", 0),
        reused_job.id: ("reused", 0),
        retried_job.id: ("succeeded", Scale.K4.output_pixels(*WIDE)),
    }
    assert usage[reused_job.id].processing_ms == 0

    # The report totals the same rows, grouped as asked.
    today = datetime.now(UTC).date()
    with world.sessions.kw["bind"].connect() as connection:
        [total] = usage_rows(connection, UsageQuery(month_start(today), today))
        by_scale = usage_rows(connection, UsageQuery(today, today, None, ["scale", "day"]))
    assert total == UsageRow(
        jobs=4,
        succeeded=2,
        failed=1,
        reused=1,
        input_pixels=4 * WIDE[0] * WIDE[1],
        output_pixels=one_k + Scale.K4.output_pixels(*WIDE),
        processing_ms=sum(row.processing_ms for row in usage.values()),
    )
    assert [(row.day, row.scale, row.jobs) for row in by_scale] == [
        (today, "1K", 2),
        (today, "2K", 1),
        (today, "4K", 1),
    ]

    # Usage outlives the jobs: their purge, even their rows' deletion.
    for job_id in usage:
        world.states.purge(job_id)
    with world.sessions.begin() as session:
        session.execute(delete(Job).where(Job.id.in_(list(usage))))
    assert set(world.usage()) == set(usage)


def test_a_finish_that_rolls_back_leaves_no_usage(world: UsageWorld) -> None:
    def refuse(session: Session, transitions: Sequence[Transition]) -> None:
        if any(t.change is Change.SUCCEEDED for t in transitions):
            raise RuntimeError("the transaction fails after the usage row was written")

    world.states.observe(refuse)
    job = world.new_job()
    world.store.create(job)
    assert world.queue.claim("w") is not None
    with pytest.raises(RuntimeError):
        world.states.succeed(job.id, ["results/x.png"])
    assert world.usage() == {}
    assert world.jobs()[job.id].state == "running"


def test_budget_admits_what_fits_and_counts_unfinished_jobs(world: UsageWorld) -> None:
    one_k = Scale.K1.output_pixels(*WIDE)
    world.budgets.set(world.user_id, 2 * one_k + one_k // 2)
    world.run(world.new_job())
    second = world.new_job()
    world.store.create(second)  # unfinished: holds its output until it ends
    with pytest.raises(BudgetExceeded) as refused:
        world.store.create(world.new_job())
    assert (refused.value.status_code, refused.value.detail) == (429, "Monthly budget exceeded")
    assert len(world.jobs()) == 2  # the refused job's transaction rolled back

    # A reused result costs nothing; a failed job gives back what it held.
    assert world.store.create_reusing(world.new_job())
    claimed = world.queue.claim("w")
    assert claimed is not None
    assert claimed.id == second.id
    assert world.states.fail(second.id, "The image could not be processed")
    state = world.budgets.state(world.user_id)
    assert state is not None
    assert state.used_output_pixels == one_k
    world.store.create(world.new_job())

    world.budgets.set(world.user_id, None)
    world.store.create(world.new_job())  # no budget: no limit
    assert world.budgets.state(world.user_id) is None


def test_a_used_up_budget_refuses_everything_until_the_month_turns(world: UsageWorld) -> None:
    world.budgets.set(world.user_id, Scale.K1.output_pixels(*WIDE))
    world.run(world.new_job())
    with pytest.raises(BudgetExceeded) as refused:
        world.budgets.check(world.user_id)  # before the upload
    assert 1 <= int((refused.value.response_headers() or {})["Retry-After"]) <= 31 * 86400
    with pytest.raises(BudgetExceeded):  # used up: even a reused result is refused
        world.store.create_reusing(world.new_job())

    turn = datetime.combine(next_month_start(datetime.now(UTC).date()), datetime.min.time(), UTC)
    next_month = Budgets(world.sessions, now=lambda: turn)
    next_month.check(world.user_id)
    JobStore(world.states, world.queue.dispatch, admit=next_month.charge).create(world.new_job())


def test_seconds_to_next_month() -> None:
    assert seconds_to_next_month(datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_to_next_month(datetime(2026, 2, 1, tzinfo=UTC)) == 28 * 86400
    assert seconds_to_next_month(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)) == 1
    assert next_month_start(date(2026, 12, 15)) == date(2027, 1, 1)
