"""Serving the metrics: the registry a scrape reads (every process of this host, plus the
queue depth from the database), the bearer-token rule, and the worker host's own port."""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session, sessionmaker

from imagetune.metrics.jobs import QueueDepth

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
PATH = "/metrics"


def host_registry(directory: Path, sessions: sessionmaker[Session]) -> CollectorRegistry:
    """What this host exports: the values every one of its processes wrote to
    ``directory``, and the queue depth read from the database at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(QueueDepth(sessions))
    return registry


def authorized(token: str | None, authorization: str | None) -> bool:
    """Whether ``authorization`` (a header value) passes: anything when no token is set,
    else exactly ``Bearer <token>`` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    given_bytes = given.strip().encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, token.encode())


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry
    token: str | None

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, b"Not Found\n", "text/plain")
        elif not authorized(self.token, self.headers.get("Authorization")):
            self._answer(401, b"Unauthorized\n", "text/plain", {"WWW-Authenticate": "Bearer"})
        else:
            try:
                body = render(self.registry)
            except Exception:  # the database away: say so to the scraper, keep serving
                log.exception("collecting metrics failed")
                self._answer(503, b"metrics unavailable\n", "text/plain")
                return
            self._answer(200, body, CONTENT_TYPE)

    def _answer(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds would drown the worker's own lines."""


class MetricsServer:
    """A worker host's /metrics, on a port of its own, in a background thread."""

    def __init__(
        self, registry: CollectorRegistry, host: str, port: int, token: str | None
    ) -> None:
        handler = type("Handler", (_Handler,), {"registry": registry, "token": token})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
