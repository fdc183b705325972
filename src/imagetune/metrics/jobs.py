"""Job events as metrics: an observer of JobStates for submissions, starts and finishes,
and a collector that reads queue depth from the database when /metrics is scraped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from imagetune.db.models import Job
from imagetune.jobs.models import JobOptions, JobState
from imagetune.jobs.states import Change, Transition
from imagetune.metrics import instruments

log = logging.getLogger(__name__)

PENDING_KEY = "imagetune.metrics"
"""Where a session keeps the samples of its transitions until it commits."""

Sample = Callable[[], None]


class JobMetrics:
    """A JobStates observer. Samples are taken inside the transaction (the job row is at
    hand) and recorded only once it commits: a change that rolls back is not counted."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "after_commit", _record)
        event.listen(sessions, "after_rollback", _discard)

    def __call__(self, session: Session, transitions: Sequence[Transition]) -> None:
        pending: list[Sample] = session.info.setdefault(PENDING_KEY, [])
        metrics = instruments.get()
        for transition in transitions:
            if transition.change not in _COUNTED:
                continue
            # In the session already for a new or just started job; one read for a finish.
            job = session.get(Job, transition.job_id)
            if job is None:
                continue
            model = JobOptions.from_json(job.options).model.value
            if transition.change is Change.QUEUED:
                pending.append(metrics.jobs_submitted.labels(model, job.scale).inc)
            elif transition.change is Change.STARTED:
                if job.attempts == 1 and job.started_at is not None:
                    wait = (job.started_at - job.created_at).total_seconds()
                    pending.append(_observer(metrics.queue_wait.labels(model), max(0.0, wait)))
            else:
                outcome = "succeeded" if transition.change is Change.SUCCEEDED else "failed"
                pending.append(metrics.jobs_finished.labels(model, job.scale, outcome).inc)


_COUNTED = (Change.QUEUED, Change.STARTED, Change.SUCCEEDED, Change.FAILED)


def _observer(histogram: Histogram, value: float) -> Sample:
    return lambda: histogram.observe(value)


def _record(session: Session) -> None:
    for sample in session.info.pop(PENDING_KEY, ()):
        sample()


def _discard(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


class QueueDepth(Collector):
    """``imagetune_jobs{state}``: queued and running jobs, counted in the database when
    scraped, so every API node reports the same, right number."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterable[Metric]:
        counts = dict.fromkeys((JobState.QUEUED.value, JobState.RUNNING.value), 0)
        try:
            with self._sessions() as session:
                rows = session.execute(
                    select(Job.state, func.count())
                    .where(Job.state.in_(list(counts)))
                    .group_by(Job.state)
                ).all()
        except SQLAlchemyError as e:
            # The rest still exports; the gauge's absence says the database is away.
            log.warning("imagetune_jobs left out of this scrape: %s", type(e).__name__)
            return
        counts.update({state: int(count) for state, count in rows})
        family = GaugeMetricFamily(
            "imagetune_jobs", "Unfinished jobs in the database, by state.", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family
