"""ORM models: users, their API keys, upscale jobs, and what those jobs used."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from imagetune.clock import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Soft delete: the user's keys must still resolve so they can answer "Not Found User".
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index(
            "uq_users_active_name",
            "name",
            unique=True,
            sqlite_where=deleted_at.is_(None),
            postgresql_where=deleted_at.is_(None),
        ),
    )


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # To the minute, not the request (imagetune.accounts.LAST_USED_PRECISION).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # One of imagetune.jobs.models.JobState; the public word is derived from it.
    state: Mapped[str] = mapped_column(String(16))
    scale: Mapped[str] = mapped_column(String(8))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    original_key: Mapped[str] = mapped_column(String(255))
    result_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128), default=None)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the original and results are deleted (set when the job finishes), and when
    # that has been done.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # X-Request-ID of the submission, so the worker's log lines about the job carry it.
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)

    # sha256 of the upload and every option that changes the result (imagetune.jobs.reuse).
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    # A job handed back after a fault of the infrastructure is not taken again before
    # retry_at; faulted_at (its first such fault) starts its retry window.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    faulted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    # The original's and the result's sizes (width x height), known at submission: what
    # the job's usage row records and what an unfinished job holds of its user's budget.
    input_pixels: Mapped[int | None] = mapped_column(Integer, default=None)
    output_pixels: Mapped[int | None] = mapped_column(Integer, default=None)

    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_user_fingerprint", "user_id", "fingerprint"),
        Index("ix_jobs_original_key", "original_key"),
    )


class WorkerHost(Base):
    """What a host running workers last said of them (imagetune.hosting.pool): readiness
    and `imagetune status` read it, on any host."""

    __tablename__ = "worker_hosts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    expected: Mapped[int] = mapped_column(Integer)
    alive: Mapped[int] = mapped_column(Integer)
    # Since when no worker process has lasted past its start, and why the last one ended.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RateBucket(Base):
    """A user's submission token bucket, shared by every API process (PostgreSQL)."""

    __tablename__ = "rate_buckets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """A submission's ``Idempotency-Key``: the job it created, and what was asked."""

    __tablename__ = "idempotency_keys"

    # The primary key is the uniqueness that makes a key create at most one job.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the upload and every form field (imagetune.api.idempotency).
    request_hash: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSecret(Base):
    """A user's webhook signing secret; after a rotation the previous one signs too, until
    ``previous_until`` (imagetune.webhooks.secrets)."""

    __tablename__ = "webhook_secrets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    previous_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobWebhook(Base):
    """The URL a job's submitter asked to be called, and for which events."""

    __tablename__ = "job_webhooks"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # Comma-separated imagetune.webhooks.events.Filter values: start, completed.
    events: Mapped[str] = mapped_column(String(32))


class WebhookMessage(Base):
    """The outbox: one row per event to deliver, written in the transaction of the job's
    state change, with the job's fields as they were then (``snapshot``)."""

    __tablename__ = "webhook_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending (to deliver, at next_attempt_at), delivered, failed (given up or refused).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while one deliverer holds the message; a dead one's hold runs out.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (Index("ix_webhook_messages_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    """One delivery attempt of a message, as it went."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # delivered, failed (will be retried), gone (410), refused (address rule), given-up.
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # The start of the response body or the error, never more (bodies are not stored).
    excerpt: Mapped[str | None] = mapped_column(String(256), default=None)
    host: Mapped[str | None] = mapped_column(String(128), default=None)


class Usage(Base):
    """One finished job, as accounted (imagetune.jobs.usage): written in the transaction
    that finished it. No foreign key to jobs: usage outlives the jobs it counts."""

    __tablename__ = "usage"

    job_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The UTC date the job finished: the day and month it is counted in.
    day: Mapped[date] = mapped_column(Date)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(32))
    scale: Mapped[str] = mapped_column(String(8))
    # imagetune.jobs.usage.Outcome: succeeded, failed or reused.
    outcome: Mapped[str] = mapped_column(String(16))
    input_pixels: Mapped[int] = mapped_column(Integer)
    # What was delivered: 0 for a failed job and for a reused result.
    output_pixels: Mapped[int] = mapped_column(Integer)
    processing_ms: Mapped[int] = mapped_column(Integer)


class UsageDay(Base):
    """Usage rows totalled per day, user, model and scale, kept by the same observer in
    the same transaction (so it never disagrees with them): what reports and budgets read,
    at most a few thousand rows a month however many jobs ran."""

    __tablename__ = "usage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(32), primary_key=True)
    scale: Mapped[str] = mapped_column(String(8), primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    reused: Mapped[int] = mapped_column(Integer)
    input_pixels: Mapped[int] = mapped_column(BigInteger)
    output_pixels: Mapped[int] = mapped_column(BigInteger)
    processing_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_usage_days_user_day", "user_id", "day"),)


class Budget(Base):
    """A user's monthly output-megapixel budget (imagetune.jobs.usage.Budgets); no row:
    no budget."""

    __tablename__ = "budgets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    monthly_output_pixels: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
