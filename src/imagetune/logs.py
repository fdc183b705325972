"""Logging set-up shared by the server, its workers and the CLI."""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"

_SECRET_QUERY = re.compile(r"(sig|signature|X-Amz-Signature|key)=[^&\s\"]+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Keeps URL signatures out of access logs (a logged URL would be a working link)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1=[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    if logging.getLogger().level > logging.DEBUG:
        # Procrastinate logs every job start and end at INFO; the worker's own line says
        # more (size, time), so keep its warnings and errors only.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
