"""What each host running workers last said of them, kept in the database so that any
API process's /readyz and `imagetune status`, on any host, can tell a crash loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import utcnow
from imagetune.db.models import WorkerHost

FRESH = timedelta(seconds=30)
"""Reports older than this are of hosts gone (hosts report every heartbeat interval)."""


@dataclass(frozen=True)
class HostReport:
    host: str
    expected: int
    alive: int
    failing_since: datetime | None
    last_error: str | None
    updated_at: datetime


class WorkerHosts:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def report(
        self,
        host: str,
        *,
        expected: int,
        alive: int,
        failing_since: datetime | None,
        last_error: str | None,
    ) -> None:
        with self._sessions.begin() as session:
            session.merge(
                WorkerHost(
                    id=host,
                    expected=expected,
                    alive=alive,
                    failing_since=failing_since,
                    last_error=last_error if failing_since else None,
                    updated_at=utcnow(),
                )
            )

    def forget(self, host: str) -> None:
        """At the host's clean stop."""
        with self._sessions.begin() as session:
            session.execute(delete(WorkerHost).where(WorkerHost.id == host))

    def recent(self, within: timedelta = FRESH) -> list[HostReport]:
        with self._sessions() as session:
            return recent_reports(session, within)


def recent_reports(session: Session, within: timedelta = FRESH) -> list[HostReport]:
    """The reports of hosts heard from ``within`` the last while (live hosts)."""
    rows = session.scalars(
        select(WorkerHost).where(WorkerHost.updated_at >= utcnow() - within).order_by(WorkerHost.id)
    ).all()
    return [
        HostReport(
            host=row.id,
            expected=row.expected,
            alive=row.alive,
            failing_since=row.failing_since,
            last_error=row.last_error,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
