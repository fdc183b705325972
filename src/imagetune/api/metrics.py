"""GET /metrics: the Prometheus text format, for this API process and every worker
process it supervises (imagetune.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from imagetune.api.services import services
from imagetune.metrics.exposition import CONTENT_TYPE, PATH, authorized, render

router = APIRouter(tags=["operations"])


@router.get(PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Metrics in the Prometheus text format; with IMAGETUNE_METRICS_TOKEN, a bearer token."""
    parts = services(request)
    if not authorized(parts.metrics_token, request.headers.get("authorization")):
        return Response(
            '{"detail":"Invalid metrics token"}',
            status_code=401,
            media_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    assert parts.metrics_registry is not None  # this route exists only with metrics on
    # Reads files and the database: not on the event loop.
    body = await run_in_threadpool(render, parts.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE)
