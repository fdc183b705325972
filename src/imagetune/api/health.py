"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from imagetune.api.deps import ServicesDep
from imagetune.api.schemas import HealthResponse, ReadinessResponse
from imagetune.jobs.pool import WorkerPool

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is alive and serving."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessResponse,
    responses={503: {"model": ReadinessResponse, "description": "Not ready"}},
)
def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    """The database and the storage answer, and every configured worker process runs."""
    pool: WorkerPool | None = request.app.state.pool
    expected = pool.size if pool else 0
    alive = pool.alive() if pool else 0
    database = services.database_ok()
    storage = services.storage.healthy()
    ready = database and storage and alive == expected
    body = ReadinessResponse(
        status="ready" if ready else "unavailable",
        database=database,
        storage=storage,
        workers_expected=expected,
        workers_alive=alive,
        device=pool.device if pool else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
