"""Building the service's parts from settings: the one place they are wired together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from imagetune.accounts import Accounts
from imagetune.config import Settings
from imagetune.db.engine import make_engine, make_sessionmaker
from imagetune.db.migrate import upgrade
from imagetune.engine.base import Processor
from imagetune.engine.pipeline import EngineConfig, Upscaler
from imagetune.jobs.queue import JobQueue, SqlJobQueue
from imagetune.jobs.store import JobStore, SqlJobStore
from imagetune.signing import UrlSigner, load_or_create_secret
from imagetune.storage.base import Storage
from imagetune.storage.local import LocalStorage
from imagetune.storage.s3 import S3Storage


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    accounts: Accounts
    jobs: JobStore
    queue: JobQueue
    storage: Storage

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Open the data directory and database (migrating it to the latest schema)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        upgrade(engine)
    sessions = make_sessionmaker(engine)
    secret = (
        settings.secret_key.get_secret_value().encode()
        if settings.secret_key
        else load_or_create_secret(settings.data_dir)
    )
    retention = timedelta(seconds=settings.retention_seconds)
    storage = build_storage(settings, UrlSigner(secret))
    queue = build_queue(settings, engine, sessions, retention)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        accounts=Accounts(sessions),
        jobs=SqlJobStore(sessions, retention=retention, dispatch=queue.dispatch),
        queue=queue,
        storage=storage,
    )


def build_queue(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session], retention: timedelta
) -> JobQueue:
    """Procrastinate on PostgreSQL (workers on any number of hosts); otherwise the
    embedded queue, the jobs table polled by one host's workers."""
    if engine.dialect.name == "postgresql":
        from imagetune.jobs.fleet import FleetQueue

        return FleetQueue(
            sessions,
            database_url=engine.url.render_as_string(hide_password=False),
            max_attempts=settings.max_attempts,
            retention=retention,
            heartbeat_interval=settings.worker_heartbeat_interval,
            stall_timeout=settings.worker_stall_timeout,
        )
    return SqlJobQueue(
        sessions,
        max_attempts=settings.max_attempts,
        retention=retention,
        poll_interval=settings.worker_poll_interval,
    )


def build_storage(settings: Settings, signer: UrlSigner) -> Storage:
    """Local files under the data directory, or the object store IMAGETUNE_STORAGE_URL
    names (credentials and region from the standard AWS variables, through boto3)."""
    if not settings.storage_url:
        return LocalStorage(
            settings.data_dir / "files", signer=signer, public_url=settings.resolved_public_url()
        )
    parts = urlsplit(settings.storage_url)  # checked by Settings: s3://bucket[/prefix]
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, config=Config(signature_version="s3v4")
    )
    return S3Storage(client, parts.netloc, parts.path)


def build_processor(settings: Settings) -> Processor:
    return Upscaler(
        EngineConfig(
            threads=settings.resolved_engine_threads,
            device=settings.engine_device,
            gpu_index=settings.engine_gpu_indexes[0] if settings.engine_gpu_indexes else None,
            tile=settings.engine_tile,
            tile_memory_mb=settings.engine_tile_memory_mb,
            max_pixels=settings.max_source_pixels,
        )
    )
