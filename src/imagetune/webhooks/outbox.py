"""The outbox: webhook messages written in the transaction of the job's state change.

``Outbox`` is a JobStates observer: when a job with a webhook starts or ends, and its
filter asks for that event, a message row is inserted with the job's fields as they are
in that transaction (its snapshot). Nothing is lost between a job's end and the call: the
message commits or rolls back with the change itself. Deliverers lease a due message,
send it, and record the attempt; a lease that runs out (its deliverer died) makes the
message due again, so delivery is at least once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import Clock, utcnow
from imagetune.db.models import Job, JobWebhook, WebhookAttempt, WebhookMessage
from imagetune.jobs.models import JobRecord
from imagetune.jobs.states import Transition, to_record
from imagetune.jobs.view import WebhookStatus
from imagetune.webhooks.events import EVENTS, Event, from_text

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

Schedule = Callable[[Session, str, datetime], None]
"""Hands a message to the fleet's task queue, inside the transaction that wrote it, to run
at the given time (imagetune.webhooks.fleet)."""


@dataclass(frozen=True)
class Leased:
    """A message one deliverer holds, with what it takes to send it."""

    id: str
    event: Event
    created_at: datetime
    url: str
    user_id: int
    job: JobRecord
    """As it was at the event, except ``purged_at``, which is as it is now."""
    attempts: int
    """Attempts before this one."""


@dataclass(frozen=True)
class Attempt:
    at: datetime
    outcome: str
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    host: str | None = None


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_HOOKS = select(JobWebhook.job_id, JobWebhook.url, JobWebhook.events).where(
    JobWebhook.job_id.in_(bindparam("ids", expanding=True))
)
_MESSAGES = (
    select(WebhookMessage.job_id, WebhookMessage.status, WebhookMessage.attempts)
    .where(WebhookMessage.job_id.in_(bindparam("ids", expanding=True)))
    .order_by(WebhookMessage.created_at, WebhookMessage.id)
)
"""A job's messages oldest first: the last one read per job is its latest."""


class Outbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        schedule: Schedule | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._engine: Engine = sessions.kw["bind"]
        self._schedule = schedule

    # -- writing, inside the job's transaction (a JobStates observer)

    def __call__(self, session: Session, transitions: Sequence[Transition]) -> None:
        changed = [t for t in transitions if t.change in EVENTS]
        if not changed:
            return
        ids = [t.job_id for t in changed]
        filters = {
            job_id: events
            for job_id, events in session.execute(
                select(JobWebhook.job_id, JobWebhook.events).where(JobWebhook.job_id.in_(ids))
            )
        }
        if not filters:
            return
        jobs = {
            job.id: job
            for job in session.scalars(
                select(Job)
                .where(Job.id.in_(list(filters)))
                .execution_options(populate_existing=True)
            )
        }
        now = self.clock()
        for transition in changed:
            event, wanted = EVENTS[transition.change]
            if transition.job_id not in filters or wanted not in from_text(
                filters[transition.job_id]
            ):
                continue
            message = WebhookMessage(
                id=f"msg_{uuid.uuid4().hex}",
                job_id=transition.job_id,
                event=event.value,
                created_at=now,
                snapshot=to_record(jobs[transition.job_id]).to_json(),
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
            )
            session.add(message)
            session.flush()
            if self._schedule is not None:
                self._schedule(session, message.id, now)

    # -- what the job body shows

    def status(self, job_id: uuid.UUID) -> WebhookStatus | None:
        return self.statuses([job_id]).get(job_id)

    def statuses(self, job_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, WebhookStatus]:
        """The webhook status of those of ``job_ids`` that have a webhook (polls read these
        in batches: one query when none has). Core rows, not ORM objects: this runs for
        every batch of polls, and a Session's set-up cost twice the query."""
        with self._engine.connect() as connection:
            hooks = connection.execute(_HOOKS, {"ids": list(job_ids)}).all()
            if not hooks:
                return {}
            last = {
                row.job_id: row
                for row in connection.execute(_MESSAGES, {"ids": [h.job_id for h in hooks]})
            }
        return {
            hook.job_id: WebhookStatus(
                url=without_query(hook.url),
                events=[f.value for f in from_text(hook.events)],
                status=last[hook.job_id].status if hook.job_id in last else None,
                attempts=last[hook.job_id].attempts if hook.job_id in last else 0,
            )
            for hook in hooks
        }

    # -- delivering

    def due(self, now: datetime, limit: int = 50) -> list[str]:
        """Messages due for an attempt that no live deliverer holds, oldest first."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(WebhookMessage.id)
                    .where(
                        WebhookMessage.status == PENDING,
                        WebhookMessage.next_attempt_at <= now,
                        (WebhookMessage.lease_until.is_(None)) | (WebhookMessage.lease_until < now),
                    )
                    .order_by(WebhookMessage.next_attempt_at)
                    .limit(limit)
                )
            )

    def lease(self, message_id: str, seconds: float) -> Leased | None:
        """Hold ``message_id`` for ``seconds`` if it is due and free; None otherwise (not
        due yet, finished, or another deliverer has it)."""
        now = self.clock()
        with self.sessions.begin() as session:
            message = session.scalars(
                update(WebhookMessage)
                .where(
                    WebhookMessage.id == message_id,
                    WebhookMessage.status == PENDING,
                    WebhookMessage.next_attempt_at <= now,
                    (WebhookMessage.lease_until.is_(None)) | (WebhookMessage.lease_until < now),
                )
                .values(lease_until=now + timedelta(seconds=seconds))
                .returning(WebhookMessage)
            ).one_or_none()
            if message is None:
                return None
            hook = session.get(JobWebhook, message.job_id)
            purged_at = session.scalar(select(Job.purged_at).where(Job.id == message.job_id))
            assert hook is not None
            # The id from the message: snapshots written before it was one of their fields
            # lack it.
            job = JobRecord.from_json(
                {**message.snapshot, "id": message.job_id, "purged_at": purged_at}
            )
            return Leased(
                id=message.id,
                event=Event(message.event),
                created_at=message.created_at,
                url=hook.url,
                user_id=job.user_id,
                job=job,
                attempts=message.attempts,
            )

    def record(self, message_id: str, attempt: Attempt, retry_at: datetime | None) -> str:
        """Record ``attempt`` and release the message: due again at ``retry_at``, or
        finished (delivered, or failed for good) when None. The message's new status."""
        if attempt.outcome == DELIVERED:
            status = DELIVERED
        else:
            status = PENDING if retry_at is not None else FAILED
        with self.sessions.begin() as session:
            session.add(
                WebhookAttempt(
                    message_id=message_id,
                    attempted_at=attempt.at,
                    outcome=attempt.outcome,
                    status_code=attempt.status_code,
                    duration_ms=attempt.duration_ms,
                    excerpt=attempt.excerpt,
                    host=attempt.host,
                )
            )
            session.execute(
                update(WebhookMessage)
                .where(WebhookMessage.id == message_id)
                .values(
                    status=status,
                    attempts=WebhookMessage.attempts + 1,
                    next_attempt_at=retry_at or attempt.at,
                    lease_until=None,
                )
            )
            if status == PENDING and retry_at is not None and self._schedule is not None:
                self._schedule(session, message_id, retry_at)
        return status

    def release_leases(self) -> int:
        """Free every lease: for a single host at start-up, whose earlier run died holding
        them (no other deliverer can be running)."""
        with self.sessions.begin() as session:
            result = session.execute(
                update(WebhookMessage)
                .where(WebhookMessage.status == PENDING, WebhookMessage.lease_until.is_not(None))
                .values(lease_until=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def stranded(self, before: datetime, limit: int = 100) -> list[str]:
        """Pending messages due since before ``before`` and not held: their task was lost
        with a dead host (fleet), so they are handed to the queue again."""
        return self.due(before, limit)
