"""What routes depend on, as Annotated aliases: each route names only what it uses.

The parts are the app's Services (imagetune.api.services). The getters are ``async``
because they only read attributes: FastAPI runs a plain ``def`` dependency in its thread
pool, a hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagetune.api.inspection import Inspector
from imagetune.api.services import Workers, services
from imagetune.api.submissions import Submissions
from imagetune.db.database import Database
from imagetune.storage.base import Storage

# Declares the scheme for the OpenAPI docs; the check itself is AuthenticatedRoute's.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `imagetune keys`")


async def get_submissions(request: Request) -> Submissions:
    return services(request).submissions


async def get_inspector(request: Request) -> Inspector:
    return services(request).inspector


async def get_storage(request: Request) -> Storage:
    return services(request).storage


async def get_database(request: Request) -> Database:
    return services(request).database


async def get_workers(request: Request) -> Workers | None:
    return services(request).workers


async def get_current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> int:
    user_id: int = request.state.user_id
    return user_id


SubmissionsDep = Annotated[Submissions, Depends(get_submissions)]
InspectorDep = Annotated[Inspector, Depends(get_inspector)]
StorageDep = Annotated[Storage, Depends(get_storage)]
DatabaseDep = Annotated[Database, Depends(get_database)]
WorkersDep = Annotated[Workers | None, Depends(get_workers)]
CurrentUser = Annotated[int, Depends(get_current_user)]
