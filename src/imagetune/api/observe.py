"""Every request observed once: its request id, its access log line and its metrics.

A pure ASGI middleware, outermost, so it sees every answer (a 431 from the header limits
and a 500 included) and costs one timer and one log call per request.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagetune import logs
from imagetune.metrics.http import HttpMetrics

access_log = logging.getLogger("imagetune.access")

HEADER = b"x-request-id"
_VALID_ID = re.compile(r"[\x20-\x7e]{1,128}")
"""A client's X-Request-ID is kept when it is 1 to 128 printable ASCII characters."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER:
            candidate: str = value.decode("latin-1")
            if _VALID_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()  # as random as uuid4().hex, a quarter of its cost


def route_template(scope: Scope, routes: list[BaseRoute]) -> str:
    """The template of the route that answered (``/public/v1/job/{job_id}``), never the
    raw path; ``unmatched`` for a path no route has."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class ObserveRequests:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        token = logs.request_id.set(request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if access_log.isEnabledFor(logging.INFO):
                self._log(scope, status, seconds)
            if self.metrics is not None:
                method = scope["method"] if scope["method"] in METHODS else "other"
                route = route_template(scope, scope["app"].router.routes)
                self.metrics.record(method, route, status, seconds, _state(scope))
            logs.request_id.reset(token)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        path = logs.redact(scope["path"] + (f"?{query}" if query else ""))
        client = scope.get("client")
        user = _state(scope).get("user_id")
        duration_ms = round(seconds * 1000, 1)
        access_log.info(
            '%s - "%s %s HTTP/%s" %d %.1f ms',
            f"{client[0]}:{client[1]}" if client else "-",
            scope["method"],
            path,
            scope.get("http_version", "1.1"),
            status,
            duration_ms,
            extra={
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                **({"user_id": user} if user is not None else {}),
            },
        )


def _state(scope: Scope) -> dict[str, Any]:
    state = scope.get("state")
    return state if isinstance(state, dict) else {}
