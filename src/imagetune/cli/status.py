"""`imagetune status`: the state of the service, read from the database (any node)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from imagetune.cli.context import settings
from imagetune.clock import utcnow
from imagetune.db.models import Job
from imagetune.jobs.hosts import HostReport, recent_reports
from imagetune.jobs.models import JobState

WINDOWS = (5, 60)
"""Minutes over which finished jobs are summarised."""


@dataclass(frozen=True)
class Window:
    minutes: int
    succeeded: int
    failed: int
    run_p50: float | None
    """Seconds from start to finish."""
    run_p95: float | None
    total_p50: float | None
    """Seconds from submission to finish: what a client waits."""
    total_p95: float | None


@dataclass(frozen=True)
class WorkerProcess:
    id: int
    host: str | None
    """Known while it runs a job (Procrastinate records processes, not hosts)."""
    last_heartbeat: datetime
    seconds_since: float


@dataclass(frozen=True)
class Status:
    database: str
    jobs: dict[str, int]
    oldest_queued_seconds: float | None
    finished: list[Window]
    workers: list[WorkerProcess] | None
    """Fleet worker processes (PostgreSQL); None on the embedded queue."""
    worker_hosts: list[HostReport]
    """What each live host running workers says of them (a crash loop, with its error)."""


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def read_status(session: Session, dialect: str) -> Status:
    now = utcnow()
    counts = dict.fromkeys((state.value for state in JobState), 0)
    for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state)):
        counts[state] = int(count)
    oldest = session.scalar(
        select(func.min(Job.created_at)).where(Job.state == JobState.QUEUED.value)
    )
    since = now - timedelta(minutes=max(WINDOWS))
    rows = session.execute(
        select(Job.state, Job.created_at, Job.started_at, Job.finished_at).where(
            Job.finished_at >= since
        )
    ).all()
    windows = []
    for minutes in WINDOWS:
        start = now - timedelta(minutes=minutes)
        recent = [row for row in rows if row.finished_at >= start]
        runs = [(r.finished_at - r.started_at).total_seconds() for r in recent if r.started_at]
        totals = [(r.finished_at - r.created_at).total_seconds() for r in recent]
        windows.append(
            Window(
                minutes=minutes,
                succeeded=sum(r.state == JobState.SUCCEEDED.value for r in recent),
                failed=sum(r.state == JobState.FAILED.value for r in recent),
                run_p50=percentile(runs, 50),
                run_p95=percentile(runs, 95),
                total_p50=percentile(totals, 50),
                total_p95=percentile(totals, 95),
            )
        )
    return Status(
        database=dialect,
        jobs=counts,
        oldest_queued_seconds=None if oldest is None else (now - oldest).total_seconds(),
        finished=windows,
        workers=_fleet_workers(session) if dialect == "postgresql" else None,
        worker_hosts=recent_reports(session),
    )


def _fleet_workers(session: Session) -> list[WorkerProcess]:
    # A process's host is in our jobs.worker_id ("host:process") while it runs a job.
    rows = session.execute(
        text(
            """
            SELECT w.id, w.last_heartbeat, NOW() - w.last_heartbeat AS age,
                   min(split_part(j.worker_id, ':', 1)) AS host
            FROM procrastinate_workers w
            LEFT JOIN procrastinate_jobs p ON p.worker_id = w.id AND p.status = 'doing'
            LEFT JOIN jobs j ON j.id::text = p.args->>'job_id' AND j.state = 'running'
            GROUP BY w.id, w.last_heartbeat
            ORDER BY w.last_heartbeat DESC
            """
        )
    ).all()
    return [
        WorkerProcess(
            id=int(row.id),
            host=row.host,
            last_heartbeat=row.last_heartbeat,
            seconds_since=row.age.total_seconds(),
        )
        for row in rows
    ]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _print(status: Status) -> None:
    console = Console()
    jobs = Table(title=f"Jobs ({status.database})")
    for state in status.jobs:
        jobs.add_column(state, justify="right")
    jobs.add_column("oldest queued", justify="right")
    jobs.add_row(
        *(str(count) for count in status.jobs.values()), _seconds(status.oldest_queued_seconds)
    )
    console.print(jobs)
    finished = Table(title="Finished jobs")
    for column in ("last", "succeeded", "failed", "run p50", "run p95", "total p50", "total p95"):
        finished.add_column(column, justify="right")
    for w in status.finished:
        finished.add_row(
            f"{w.minutes} min",
            str(w.succeeded),
            str(w.failed),
            *(_seconds(v) for v in (w.run_p50, w.run_p95, w.total_p50, w.total_p95)),
        )
    console.print(finished)
    hosts = Table(title="Worker hosts")
    for column in ("host", "alive", "expected", "failing since", "last start error"):
        hosts.add_column(column)
    for h in status.worker_hosts:
        hosts.add_row(
            h.host,
            str(h.alive),
            str(h.expected),
            h.failing_since.isoformat(timespec="seconds") if h.failing_since else "-",
            h.last_error or "-",
            style="red" if h.failing_since else None,
        )
    if not status.worker_hosts:
        hosts.add_row("no host running workers has reported", "-", "-", "-", "-")
    console.print(hosts)
    if status.workers is None:
        console.print("Workers: the embedded queue (SQLite): one host, see its log.")
        return
    workers = Table(title="Fleet worker processes (Procrastinate)")
    for column in ("id", "host (while in a job)", "last heartbeat", "ago"):
        workers.add_column(column)
    for p in status.workers:
        workers.add_row(
            str(p.id),
            p.host or "-",
            p.last_heartbeat.isoformat(timespec="seconds"),
            _seconds(p.seconds_since),
        )
    if not status.workers:
        workers.add_row("-", "no worker registered", "-", "-")
    console.print(workers)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")] = False,
) -> None:
    """Jobs by state, recent throughput and durations, and fleet workers (from the database)."""
    from imagetune import wiring

    database = wiring.database(settings(ctx))
    try:
        with database.sessions() as session:
            current = read_status(session, database.dialect)
    finally:
        database.close()
    if as_json:
        typer.echo(json.dumps(asdict(current), default=_json_default, indent=2))
    else:
        _print(current)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
