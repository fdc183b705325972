"""Factories for in-process tests on real SQLite files."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.accounts import Accounts
from imagetune.db.engine import make_engine, make_sessionmaker
from imagetune.db.migrate import upgrade
from imagetune.db.models import Job, utcnow
from imagetune.jobs.models import NewJob, Scale
from imagetune.jobs.queue import SqlJobQueue
from imagetune.jobs.store import SqlJobStore

RETENTION = timedelta(hours=1)


def sqlite_sessions(path: Path) -> sessionmaker[Session]:
    return sessions_for(f"sqlite:///{path}")


def sessions_for(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return make_sessionmaker(engine)


class JobWorld:
    """A database with one user, a store and a queue over it."""

    def __init__(self, url: str, max_attempts: int = 3) -> None:
        self.url = url
        self.sessions = sessions_for(url)
        self.accounts = Accounts(self.sessions)
        self.user_id = self.accounts.create_user("owner").id
        self.store = SqlJobStore(self.sessions, retention=RETENTION)
        self.queue = SqlJobQueue(self.sessions, max_attempts=max_attempts, retention=RETENTION)

    def submit(self, age_seconds: float = 0) -> uuid.UUID:
        job_id = uuid.uuid4()
        self.store.create(NewJob(job_id, self.user_id, Scale.K1, f"originals/{job_id}"))
        if age_seconds:
            with self.sessions.begin() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(created_at=utcnow() - timedelta(seconds=age_seconds))
                )
        return job_id
