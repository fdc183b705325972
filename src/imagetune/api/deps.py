"""What routes depend on, as Annotated aliases: each route names only what it uses.

The parts are built once per app (imagetune.app) and kept on ``app.state``. The getters
are ``async`` because they only read attributes: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagetune.api.inspection import Inspector
from imagetune.config import Settings
from imagetune.db.database import Database
from imagetune.jobs.store import JobStore
from imagetune.storage.base import Storage

# Declares the scheme for the OpenAPI docs; the check itself is AuthenticatedRoute's.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `imagetune keys`")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_jobs(request: Request) -> JobStore:
    jobs: JobStore = request.app.state.jobs
    return jobs


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_inspector(request: Request) -> Inspector:
    inspector: Inspector = request.app.state.inspector
    return inspector


async def get_current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> int:
    user_id: int = request.state.user_id
    return user_id


SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
StorageDep = Annotated[Storage, Depends(get_storage)]
DatabaseDep = Annotated[Database, Depends(get_database)]
InspectorDep = Annotated[Inspector, Depends(get_inspector)]
CurrentUser = Annotated[int, Depends(get_current_user)]
