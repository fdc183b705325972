"""Dependencies shared by the routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagetune.api.inspection import Inspector
from imagetune.services import Services

# Declares the scheme for the OpenAPI docs; the check itself is AuthenticatedRoute's.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `imagetune keys`")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> int:
    user_id: int = request.state.user_id
    return user_id


def get_inspector(request: Request) -> Inspector:
    inspector: Inspector = request.app.state.inspector
    return inspector


ServicesDep = Annotated[Services, Depends(get_services)]
InspectorDep = Annotated[Inspector, Depends(get_inspector)]
CurrentUser = Annotated[int, Depends(get_current_user)]
