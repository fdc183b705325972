"""Settings: the only place that reads the environment (prefix ``IMAGETUNE_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from imagetune.engine.animation import DEFAULT_MAX_OUTPUT_PIXELS
from imagetune.engine.base import Device
from imagetune.engine.decode import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS
from imagetune.engine.pipeline import TILE_MEMORY_MB


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Service configuration. Every field reads ``IMAGETUNE_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="IMAGETUNE_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Directory holding the SQLite database, originals and results.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file imagetune.db in the data directory.",
    )
    storage_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix for an S3-compatible store; default: local files.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (MinIO, moto, ...)."
    )
    public_url: str | None = Field(
        default=None,
        description="Base of result URLs, e.g. https://img.example.com; default from host/port.",
    )
    host: str = Field(default="127.0.0.1", description="Address `imagetune serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `imagetune serve` uses.")
    workers: int | None = Field(
        default=None,
        ge=0,
        description="Worker processes; default: available CPUs / engine threads. 0 = API only.",
    )
    engine_threads: int | None = Field(
        default=None,
        ge=1,
        description="Inference threads per worker; default: available CPUs, at most 4.",
    )
    engine_device: Device = Field(
        default=Device.AUTO,
        description="auto (a real Vulkan GPU when ncnn sees one, never a software one; else "
        "the CPU), cpu or gpu (the best Vulkan device present, or fail at start).",
    )
    engine_gpu: str | None = Field(
        default=None,
        pattern=r"^\s*\d+\s*(,\s*\d+\s*)*$",
        description="Vulkan device indexes to use, e.g. 0 or 0,2 (see `imagetune devices`); "
        "default: every device of the best type present.",
    )
    engine_tile: int | None = Field(
        default=None,
        ge=16,
        le=4096,
        description="Largest tile side in input pixels; default: 240 on the CPU, 512 on a GPU.",
    )
    engine_tile_memory_mb: int = Field(
        default=TILE_MEMORY_MB,
        ge=32,
        description="Working-memory budget of one tile on the CPU; tiles shrink to fit it.",
    )
    worker_poll_interval: float = Field(
        default=0.2, gt=0, description="Seconds an idle worker waits before looking for work."
    )
    worker_name: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Prefix of this host's worker ids (shown in logs); default: the host name.",
    )
    worker_heartbeat_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between a fleet worker's heartbeats (PostgreSQL queue).",
    )
    worker_stall_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds without a heartbeat before a fleet worker's job is taken over.",
    )
    worker_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="Niceness added to worker processes so the API stays responsive under load.",
    )
    shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a stopping server lets workers finish the job in hand.",
    )
    job_timeout: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Seconds a job may run before it is Failed; a worker still in it 5 s later is replaced."
        ),
    )
    worker_memory_mb: int = Field(
        default=3072,
        ge=0,
        description="Address-space limit of a CPU worker process, in MB (0: none).",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Times a job is started before it is given up as Failed."
    )
    retry_window: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a job hit by faults of the storage or database is handed back "
        "and retried (attempts not counted) before it fails naming the cause.",
    )
    storage_min_free_mb: int = Field(
        default=256,
        ge=0,
        description="Free space below which local storage is not ready (/readyz 503).",
    )
    worker_start_deadline: float = Field(
        default=30.0,
        gt=0,
        description="Seconds without any worker process lasting past its start before "
        "/readyz and `imagetune status` report the workers as failing.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key for signing result URLs; default: generated once into the data dir.",
    )
    retention_seconds: int = Field(
        default=24 * 3600,
        gt=0,
        description="Seconds a finished job's original and results are kept, then deleted.",
    )
    purge_interval: float = Field(
        default=60.0, gt=0, description="Seconds between sweeps for expired files."
    )
    result_url_ttl: int = Field(
        default=3600, gt=0, description="Seconds a result URL stays valid after it is issued."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser, as a JSON list "
        '(e.g. ["https://app.example.com"]); none by default: CORS off.',
    )
    playground: bool = Field(
        default=True, description="Serve the browser playground at / (0 turns it off: 404)."
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per line."
    )
    metrics: bool = Field(default=True, description="Serve Prometheus metrics on /metrics.")
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics requires `Authorization: Bearer <token>`."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="When set (16 characters or more), the admin API under /admin/v1 "
        "answers to `Authorization: Bearer <token>`; unset, those paths are 404.",
    )
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Port on which `imagetune worker` serves /metrics (0: none).",
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        gt=0,
        description="Largest upload body accepted; larger ones get 413 before being read whole.",
    )
    result_reuse: bool = Field(
        default=True,
        description="A user's repeated request (same upload, same options) reuses the "
        "results of their earlier job while its files are kept, without running the engine.",
    )
    rate_limit_per_minute: int = Field(
        default=60, ge=0, description="Submissions per user per minute (0: no limit)."
    )
    max_unfinished_per_user: int = Field(
        default=20, ge=0, description="Pending jobs a user may have at once (0: no limit)."
    )
    max_queue_length: int = Field(
        default=1000, ge=0, description="Pending jobs in all; beyond it, 429 (0: no limit)."
    )
    inspector_processes: int = Field(
        default=1, ge=1, description="Processes that check uploads decode (isolated, limited)."
    )
    inspector_memory_mb: int = Field(
        default=1024, ge=0, description="Address-space limit of an upload checker, MB (0: none)."
    )
    inspector_timeout: float = Field(
        default=20.0, gt=0, description="Seconds an upload may take to decode before 400."
    )
    max_source_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        gt=0,
        description="Largest original (width x height; an animation: all frames together), "
        "checked from the header before decoding.",
    )
    max_animation_frames: int = Field(
        default=DEFAULT_MAX_FRAMES,
        gt=0,
        description="Most frames an animated original may have; more: 400 at upload.",
    )
    max_animation_output_pixels: int = Field(
        default=DEFAULT_MAX_OUTPUT_PIXELS,
        gt=0,
        description="Most result pixels of an animation, all frames together (a worker holds "
        "them all, ~4 bytes each); more: 413 at upload.",
    )

    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and other non-public addresses (LAN).",
    )
    webhook_allowed_ports: str = Field(
        default="80,443",
        pattern=r"^\s*\d{1,5}(\s*,\s*\d{1,5})*\s*$",
        description="Comma-separated ports webhook URLs may name.",
    )
    webhook_proxy: str | None = Field(
        default=None, description="Egress proxy URL every webhook delivery goes through."
    )
    webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        pattern=r"^\s*[\d.]+(\s*,\s*[\d.]+)*\s*$",
        description="Seconds before each retry of a failed webhook delivery, comma-separated.",
    )
    webhook_timeout: float = Field(
        default=15.0, gt=0, description="Seconds one webhook delivery attempt may take."
    )

    @field_validator("storage_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme != "s3" or not parts.netloc:
                raise ValueError("must look like s3://bucket or s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _stall_after_heartbeats(self) -> Settings:
        if self.worker_stall_timeout < 2 * self.worker_heartbeat_interval:
            raise ValueError(
                "IMAGETUNE_WORKER_STALL_TIMEOUT must be at least twice "
                "IMAGETUNE_WORKER_HEARTBEAT_INTERVAL, or live workers look stalled"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'imagetune.db').resolve()}"

    @property
    def engine_gpu_indexes(self) -> tuple[int, ...] | None:
        if self.engine_gpu is None:
            return None
        return tuple(int(index) for index in self.engine_gpu.split(","))

    @property
    def resolved_engine_threads(self) -> int:
        return self.engine_threads or min(4, available_cpus())

    @property
    def resolved_workers(self) -> int:
        # Workers x threads = CPUs: every core busy, none oversubscribed.
        if self.workers is not None:
            return self.workers
        return max(1, available_cpus() // self.resolved_engine_threads)

    @property
    def resolved_webhook_ports(self) -> frozenset[int]:
        return frozenset(int(port) for port in self.webhook_allowed_ports.split(","))

    @property
    def resolved_webhook_retry_schedule(self) -> tuple[float, ...]:
        return tuple(float(delay) for delay in self.webhook_retry_schedule.split(","))

    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
