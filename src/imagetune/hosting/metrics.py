"""A worker host's metrics: its private multiprocess directory, and /metrics on
IMAGETUNE_WORKER_METRICS_PORT (an API host serves them on the API port instead)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from imagetune.config import Settings
from imagetune.db.database import Database

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> None:
    """Before anything records a metric or spawns a worker: this host's directory."""
    if settings.metrics:
        from imagetune.metrics import multiprocess

        multiprocess.use_private_directory()


@contextmanager
def serve_worker_metrics(settings: Settings, database: Database) -> Iterator[None]:
    """/metrics on the worker metrics port while the host runs (when enabled).

    A port already taken is logged as an error and the host runs on without metrics:
    running jobs matters more than reporting on them, and the scraper shows the target
    down."""
    if not settings.metrics or not settings.worker_metrics_port:
        yield
        return
    from imagetune.metrics import multiprocess
    from imagetune.metrics.exposition import MetricsServer, host_registry

    registry = host_registry(multiprocess.use_private_directory(), database.sessions)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    try:
        server = MetricsServer(registry, settings.host, settings.worker_metrics_port, token)
    except OSError as e:
        log.error(
            "cannot serve metrics on %s:%d (%s); running without them",
            settings.host,
            settings.worker_metrics_port,
            e,
        )
        yield
        return
    server.start()
    log.info("metrics on http://%s:%d/metrics", settings.host, server.port)
    try:
        yield
    finally:
        server.stop()
