"""Factories for in-process tests on real databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.accounts import Accounts
from imagetune.clock import utcnow
from imagetune.db.database import open_database
from imagetune.db.models import Job
from imagetune.engine.models import ModelName
from imagetune.jobs.embedded import EmbeddedQueue
from imagetune.jobs.models import JobOptions, NewJob, Scale
from imagetune.jobs.states import JobStates
from imagetune.jobs.store import JobStore

RETENTION = timedelta(hours=1)


def sessions_for(url: str) -> sessionmaker[Session]:
    return open_database(url).sessions


class JobWorld:
    """A database with one user, the job states, an embedded queue and a store over it."""

    def __init__(self, url: str, max_attempts: int = 3) -> None:
        self.url = url
        self.sessions = sessions_for(url)
        self.accounts = Accounts(self.sessions)
        self.user_id = self.accounts.create_user("owner").id
        self.states = JobStates(self.sessions, retention=RETENTION, max_attempts=max_attempts)
        self.queue = EmbeddedQueue(self.states, poll_interval=0.05)
        self.store = JobStore(self.states, self.queue.dispatch)

    def submit(self, age_seconds: float = 0, model: ModelName = ModelName.PHOTO) -> uuid.UUID:
        job_id = uuid.uuid4()
        self.store.create(
            NewJob(job_id, self.user_id, Scale.K1, f"originals/{job_id}", JobOptions(model=model))
        )
        if age_seconds:
            with self.sessions.begin() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(created_at=utcnow() - timedelta(seconds=age_seconds))
                )
        return job_id
