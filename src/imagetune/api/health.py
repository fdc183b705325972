"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from imagetune.api.deps import DatabaseDep, StorageDep, WorkersDep
from imagetune.api.schemas import HealthResponse, ReadinessResponse
from imagetune.db.database import Database
from imagetune.jobs.hosts import WorkerHosts

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
    """The database answers, the storage takes writes (with room to spare), and workers
    can start: every one this process runs is alive; without workers of its own, the
    worker hosts that report (fleet) are not all in a crash loop."""
    expected = pool.size if pool else 0
    alive = pool.alive() if pool else 0
    problems: dict[str, str] = {}
    if not database.ping():
        problems["database"] = "the database cannot be reached"
    if (trouble := storage.trouble()) is not None:
        problems["storage"] = trouble
    if pool is not None:
        if (trouble := pool.trouble()) is not None:
            problems["workers"] = trouble
        elif alive < expected:
            problems["workers"] = f"{alive} of {expected} worker processes alive"
    elif "database" not in problems and (trouble := _fleet_trouble(database)) is not None:
        problems["workers"] = trouble
    body = ReadinessResponse(
        status="unavailable" if problems else "ready",
        database="database" not in problems,
        storage="storage" not in problems,
        workers_expected=expected,
        workers_alive=alive,
        device=pool.device if pool else None,
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=503 if problems else 200)


def _fleet_trouble(database: Database) -> str | None:
    """When worker hosts report and every one of them is in a crash loop, why."""
    try:
        hosts = WorkerHosts(database.sessions).recent()
    except Exception:  # the database answered the ping a moment ago: not this probe's job
        return None
    if not hosts or any(host.alive for host in hosts):
        return None
    # A host reports failing_since only past its start deadline: a crash loop.
    failing = [host for host in hosts if host.failing_since is not None]
    if len(failing) < len(hosts):
        return None
    last = max(failing, key=lambda host: host.updated_at)
    return (
        f"no worker process has started on any of {len(hosts)} host(s); "
        f"on {last.host}: {last.last_error}"
    )
