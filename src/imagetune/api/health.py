"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from imagetune.api.deps import DatabaseDep, StorageDep, WorkersDep
from imagetune.api.schemas import HealthResponse, ReadinessResponse

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
def readyz(database: DatabaseDep, storage: StorageDep, pool: WorkersDep) -> JSONResponse:
    """The database and the storage answer, and every configured worker process runs."""
    expected = pool.size if pool else 0
    alive = pool.alive() if pool else 0
    database_ok = database.ping()
    storage_ok = storage.healthy()
    ready = database_ok and storage_ok and alive == expected
    body = ReadinessResponse(
        status="ready" if ready else "unavailable",
        database=database_ok,
        storage=storage_ok,
        workers_expected=expected,
        workers_alive=alive,
        device=pool.device if pool else None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
