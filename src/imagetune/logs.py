"""Logging set-up shared by the server, its workers and the CLI.

What a log line is about (the request, the job, the user, the worker) is kept in context
variables, set where it becomes known, so every line logged while handling it can carry
it: the JSON format writes them as fields.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"

_SECRET_QUERY = re.compile(r"(sig|signature|X-Amz-Signature|key)=[^&\s\"]+", re.IGNORECASE)

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)
user_id: ContextVar[int | None] = ContextVar("user_id", default=None)
worker_id: ContextVar[str | None] = ContextVar("worker_id", default=None)

CONTEXT: tuple[ContextVar[Any], ...] = (request_id, job_id, user_id, worker_id)

_process_worker: str | None = None


def set_process_worker(worker: str) -> None:
    """This process is worker ``worker``: every line it logs names it, from any thread
    (a queue may run jobs in threads that do not inherit the context)."""
    global _process_worker
    _process_worker = worker
    worker_id.set(worker)


ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
"""Extra fields of an access log line (imagetune.api.observe), kept in JSON."""


def redact(text: str) -> str:
    """``text`` with URL signatures and keys in query strings replaced."""
    return _SECRET_QUERY.sub(r"\1=[redacted]", text)


class RedactSecrets(logging.Filter):
    """Keeps URL signatures out of access logs (a logged URL would be a working link)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


@contextmanager
def job_context(job: uuid.UUID, request: str | None, user: int | None = None) -> Iterator[None]:
    """Lines logged inside name ``job``, the request that created it and its user."""
    job_token = job_id.set(str(job))
    request_token = request_id.set(request)
    user_token = user_id.set(user)
    try:
        yield
    finally:
        user_id.reset(user_token)
        request_id.reset(request_token)
        job_id.reset(job_token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC), level, logger, message, and the
    context fields that are known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for var in CONTEXT:
            value = getattr(record, var.name, None) or var.get()
            if value is None and var is worker_id:
                value = _process_worker
            if value is not None:
                entry[var.name] = value
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # library warnings as log lines (JSON ones in JSON mode)
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    if logging.getLogger().level > logging.DEBUG:
        # Procrastinate logs every job start and end at INFO; the worker's own line says
        # more (size, time), so keep its warnings and errors only.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
