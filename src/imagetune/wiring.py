"""Building the service's parts from settings: the one place they are wired together.

Everything below takes what it needs as plain arguments; only this module (and the
process entry points above it, in imagetune.hosting, imagetune.app and imagetune.cli)
reads Settings.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imagetune.clock import Clock, utcnow
from imagetune.config import Settings
from imagetune.db.database import Database, open_database
from imagetune.engine.base import Processor
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.jobs.budgets import Budgets
from imagetune.jobs.embedded import EmbeddedQueue
from imagetune.jobs.queue import JobQueue
from imagetune.jobs.states import JobStates
from imagetune.jobs.store import JobStore
from imagetune.jobs.usage import UsageRecorder
from imagetune.signing import UrlSigner, load_or_create_secret
from imagetune.storage.base import Storage
from imagetune.storage.local import LocalStorage
from imagetune.storage.s3 import S3Storage
from imagetune.webhooks.addresses import Policy
from imagetune.webhooks.outbox import Outbox

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from imagetune.api.quotas import Limiter
    from imagetune.metrics.http import HttpMetrics
    from imagetune.webhooks.delivery import Sender


def database(settings: Settings, *, migrate: bool = True) -> Database:
    """The configured database (its data directory made first), migrated unless told not."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_database(settings.resolved_database_url, migrate=migrate)


@dataclass(frozen=True)
class Jobs:
    """The job system over one database: its state owner, the store and the queue."""

    database: Database
    states: JobStates
    store: JobStore
    queue: JobQueue

    def close(self) -> None:
        self.database.close()


def jobs(settings: Settings, db: Database, clock: Clock = utcnow) -> Jobs:
    states = JobStates(
        db.sessions,
        retention=timedelta(seconds=settings.retention_seconds),
        max_attempts=settings.max_attempts,
        retry_window=timedelta(seconds=settings.retry_window),
        clock=clock,
    )
    if settings.metrics:
        from imagetune.metrics.jobs import JobMetrics

        states.observe(JobMetrics(db.sessions))
    queue = job_queue(settings, db, states)
    # Every process that changes job state writes the webhook outbox and the usage rows
    # in the same transaction.
    states.observe(webhook_outbox(db, clock))
    states.observe(UsageRecorder())
    store = JobStore(states, queue.dispatch, admit=Budgets(db.sessions, clock).charge)
    return Jobs(db, states, store, queue)


def job_queue(settings: Settings, db: Database, states: JobStates) -> JobQueue:
    """Procrastinate on PostgreSQL (workers on any number of hosts); otherwise the
    embedded queue, the jobs table polled by one host's workers."""
    if db.dialect == "postgresql":
        from imagetune.jobs.fleet import FleetQueue

        return FleetQueue(
            states,
            database_url=db.engine.url.render_as_string(hide_password=False),
            heartbeat_interval=settings.worker_heartbeat_interval,
            stall_timeout=settings.worker_stall_timeout,
        )
    return EmbeddedQueue(states, poll_interval=settings.worker_poll_interval)


def webhook_outbox(db: Database, clock: Clock = utcnow) -> Outbox:
    """The webhook outbox; on PostgreSQL each message is also a Procrastinate task."""
    if db.dialect == "postgresql":
        from imagetune.webhooks.fleet import WebhookTasks

        return Outbox(db.sessions, WebhookTasks(), clock)
    return Outbox(db.sessions, clock=clock)


def rate_limiter(settings: Settings, db: Database) -> Limiter | None:
    """Per-user submission rate: one bucket per user for the whole cluster on PostgreSQL
    (API processes on many hosts), per process on SQLite (one host)."""
    from imagetune.api.quotas import RateLimiter, SharedRateLimiter

    if not settings.rate_limit_per_minute:
        return None
    if db.dialect == "postgresql":
        return SharedRateLimiter(settings.rate_limit_per_minute, db.engine.url)
    return RateLimiter(settings.rate_limit_per_minute)


def webhook_policy(settings: Settings) -> Policy:
    return Policy(
        allowed_ports=settings.resolved_webhook_ports,
        allow_private=settings.webhook_allow_private,
    )


def webhook_sender(settings: Settings) -> Sender:
    # Imported here: httpx (with click and rich, which it loads for its CLI) is not needed
    # by worker processes, which import this module at every start.
    from imagetune.webhooks.delivery import Sender

    return Sender(
        webhook_policy(settings), timeout=settings.webhook_timeout, proxy=settings.webhook_proxy
    )


def local_storage(settings: Settings, clock: Clock = utcnow) -> LocalStorage:
    """Files under the data directory, served by the API (imagetune.api.files)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = (
        settings.secret_key.get_secret_value().encode()
        if settings.secret_key
        else load_or_create_secret(settings.data_dir)
    )
    return LocalStorage(
        settings.data_dir / "files",
        signer=UrlSigner(secret),
        public_url=settings.resolved_public_url(),
        min_free_bytes=settings.storage_min_free_mb * 2**20,
        clock=clock,
    )


def object_storage(settings: Settings) -> S3Storage:
    """The object store IMAGETUNE_STORAGE_URL names (credentials and region from the
    standard AWS variables, through boto3)."""
    assert settings.storage_url  # checked by Settings: s3://bucket[/prefix]
    parts = urlsplit(settings.storage_url)
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, config=Config(signature_version="s3v4")
    )
    return S3Storage(client, parts.netloc, parts.path)


def storage(settings: Settings) -> Storage:
    """For processes that only read and write objects (workers): any configured store."""
    if settings.storage_url:
        return object_storage(settings)
    return local_storage(settings)


def processor(settings: Settings) -> Processor:
    """The engine, as settings configure it (the default processor factory)."""
    return Upscaler(
        EngineConfig(
            threads=settings.resolved_engine_threads,
            device=settings.engine_device,
            # A worker process is bound to one device (hosting.placement.settings_for).
            gpu_index=settings.engine_gpu_indexes[0] if settings.engine_gpu_indexes else None,
            tile=settings.engine_tile,
            tile_memory_mb=settings.engine_tile_memory_mb,
            max_pixels=settings.max_source_pixels,
            max_frames=settings.max_animation_frames,
            max_output_pixels=settings.max_animation_output_pixels,
        )
    )


def http_metrics(settings: Settings) -> HttpMetrics | None:
    """Request metrics for an API process, which becomes its host's metrics collector:
    its private multiprocess directory is made here, before any worker is spawned."""
    if not settings.metrics:
        return None
    from imagetune.metrics import instruments, multiprocess
    from imagetune.metrics.http import HttpMetrics

    multiprocess.use_private_directory()
    instruments.declare_zeroes()
    return HttpMetrics()


def metrics_directory(settings: Settings) -> AbstractContextManager[object]:
    """Holds this host's metrics directory while it runs; removed at its clean stop."""
    if not settings.metrics:
        return nullcontext()
    from imagetune.metrics import multiprocess

    return multiprocess.held()


def metrics_registry(settings: Settings, db: Database) -> CollectorRegistry | None:
    """What this host's /metrics exports (None with IMAGETUNE_METRICS=0)."""
    if not settings.metrics:
        return None
    from imagetune.metrics import multiprocess
    from imagetune.metrics.exposition import host_registry

    return host_registry(multiprocess.use_private_directory(), db.sessions)
