"""GET /metrics: the Prometheus text format, for this API process and every worker
process it supervises (imagetune.metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from imagetune.api.deps import SettingsDep
from imagetune.metrics.exposition import CONTENT_TYPE, PATH, authorized, render

router = APIRouter(tags=["operations"])


@router.get(PATH, include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Metrics in the Prometheus text format; with IMAGETUNE_METRICS_TOKEN, a bearer token."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if not authorized(token, request.headers.get("authorization")):
        return Response(
            '{"detail":"Invalid metrics token"}',
            status_code=401,
            media_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
    registry: CollectorRegistry = request.app.state.metrics_registry
    # Reads files and the database: not on the event loop.
    body = await run_in_threadpool(render, registry)
    return Response(body, media_type=CONTENT_TYPE)
