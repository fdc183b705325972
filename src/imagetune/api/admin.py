"""The admin API under /admin/v1: users, keys, budgets and usage, for operators.

Included by imagetune.app only when IMAGETUNE_ADMIN_TOKEN is set (otherwise every path
here is 404). Every route answers to ``Authorization: Bearer <admin token>`` and nothing
else: the token is checked before the body or the parameters are read, compared in
constant time (as SHA-256 digests, so not even its length leaks), and a user's API key
is just a wrong token here. The admin token in turn is no API key, so it never works on
/public/. The work is done by the same Accounts and Budgets the CLI uses.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from imagetune.accounts import (
    Accounts,
    AmbiguousKey,
    DuplicateUser,
    InvalidUserName,
    UnknownKey,
    UnknownUser,
)
from imagetune.api.admin_schemas import (
    BudgetRequest,
    CreatedKeyResponse,
    KeyResponse,
    UserRequest,
    UserResponse,
)
from imagetune.api.deps import DatabaseDep
from imagetune.api.services import services
from imagetune.api.usage import (
    SinceQuery,
    UntilQuery,
    UsageResponse,
    group_by_query,
    usage_query,
    usage_response,
)
from imagetune.errors import AccountError, ImagetuneError
from imagetune.jobs.budgets import Budgets
from imagetune.jobs.usage import GROUPS

TAG = "admin"


class InvalidAdminToken(ImagetuneError):
    status_code = 401
    detail = "Invalid admin token"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class AdminNotFound(ImagetuneError):
    status_code = 404


class AdminConflict(ImagetuneError):
    status_code = 409


class AdminInvalid(ImagetuneError):
    status_code = 422


def is_admin(token: SecretStr, authorization: str | None) -> bool:
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        hashlib.sha256(presented.strip().encode()).digest(),
        hashlib.sha256(token.get_secret_value().encode()).digest(),
    )


class AdminRoute(APIRoute):
    """A route that checks the admin token before FastAPI reads or validates anything
    (as imagetune.api.auth.AuthenticatedRoute does for keys): a wrong token is 401, never
    a 422 about the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def admin_only(request: Request) -> Response:
            token = services(request).admin_token
            if token is None or not is_admin(token, request.headers.get("authorization")):
                raise InvalidAdminToken()
            return await handler(request)

        return admin_only


# Declares the scheme for the OpenAPI docs; the check itself is AdminRoute's.
admin_scheme = HTTPBearer(
    scheme_name="AdminToken", auto_error=False, description="IMAGETUNE_ADMIN_TOKEN"
)
Admin = Annotated[HTTPAuthorizationCredentials | None, Depends(admin_scheme)]

router = APIRouter(
    prefix="/admin/v1",
    tags=[TAG],
    route_class=AdminRoute,
    responses={401: {"description": InvalidAdminToken.detail}},
)


async def get_accounts(request: Request) -> Accounts:
    return services(request).accounts


async def get_budgets(request: Request) -> Budgets:
    return services(request).budgets


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
BudgetsDep = Annotated[Budgets, Depends(get_budgets)]


REFUSALS: dict[type[AccountError], Callable[[], ImagetuneError]] = {
    UnknownUser: lambda: AdminNotFound("User not found"),
    UnknownKey: lambda: AdminNotFound("Key not found"),
    DuplicateUser: lambda: AdminConflict("User already exists"),
    AmbiguousKey: lambda: AdminConflict("Several active keys share this prefix; give the key"),
    # The request schema's pattern is the same rule: this is only a second line.
    InvalidUserName: lambda: AdminInvalid("Invalid user name"),
}
"""What Accounts refused, as the admin API answers it (the CLI prints Accounts' own
message, which names the user or key)."""


async def run(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` on a thread; Accounts' refusals as their HTTP answers."""
    try:
        return await run_in_threadpool(call, *args)
    except AccountError as e:
        answer = REFUSALS.get(type(e))
        if answer is None:
            raise
        raise answer() from e


def _user_response(accounts: Accounts, budgets: Budgets, name: str | None) -> list[UserResponse]:
    users = accounts.list_users()
    limits = budgets.all()
    return [
        UserResponse.of(user, limits.get(user.id))
        for user in users
        if name is None or user.name == name
    ]


@router.post("/users", status_code=201, responses={409: {"description": "The name exists"}})
async def create_user(body: UserRequest, accounts: AccountsDep, _: Admin) -> UserResponse:
    """Create a user."""
    user = await run(accounts.create_user, body.name)
    return UserResponse.of(user, None)


@router.get("/users")
async def list_users(accounts: AccountsDep, budgets: BudgetsDep, _: Admin) -> list[UserResponse]:
    """Every active user, with their number of active keys and their monthly budget."""
    users: list[UserResponse] = await run(_user_response, accounts, budgets, None)
    return users


@router.delete("/users/{name}", status_code=204, responses={404: {"description": "No such user"}})
async def delete_user(name: str, accounts: AccountsDep, _: Admin) -> Response:
    """Delete a user: their keys then answer 404 "Not Found User"; their usage stays."""
    await run(accounts.delete_user, name)
    return Response(status_code=204)


@router.post(
    "/users/{name}/keys", status_code=201, responses={404: {"description": "No such user"}}
)
async def create_key(name: str, accounts: AccountsDep, _: Admin) -> CreatedKeyResponse:
    """Create an API key for the user; the key is in this answer and nowhere else, ever."""
    created = await run(accounts.create_key, name)
    return CreatedKeyResponse(key=created.key, prefix=created.prefix, created_at=created.created_at)


@router.get("/users/{name}/keys", responses={404: {"description": "No such user"}})
async def list_keys(name: str, accounts: AccountsDep, _: Admin) -> list[KeyResponse]:
    """The user's keys by display prefix, revoked ones too (never the key itself)."""
    keys = await run(accounts.list_keys, name)
    return [KeyResponse.of(key) for key in keys]


@router.delete(
    "/keys/{prefix}",
    status_code=204,
    responses={
        404: {"description": "No active key has this prefix"},
        409: {"description": "Several active keys share this prefix"},
    },
)
async def revoke_key(prefix: str, accounts: AccountsDep, _: Admin) -> Response:
    """Revoke a key: every API process refuses it within a second or two (its key cache)."""
    await run(accounts.revoke_key, prefix)
    return Response(status_code=204)


@router.put("/users/{name}/budget", responses={404: {"description": "No such user"}})
async def set_budget(
    name: str, body: BudgetRequest, accounts: AccountsDep, budgets: BudgetsDep, _: Admin
) -> UserResponse:
    """Set the user's monthly output-megapixel budget, or clear it with null."""
    user_id = await run(accounts.user_id, name)
    await run(budgets.set, user_id, body.pixels)
    [user] = await run(_user_response, accounts, budgets, name)
    return user  # type: ignore[no-any-return]


@router.get(
    "/usage", response_model=UsageResponse, responses={404: {"description": "No such user"}}
)
async def usage(
    database: DatabaseDep,
    accounts: AccountsDep,
    _: Admin,
    since: SinceQuery = None,
    until: UntilQuery = None,
    user: Annotated[
        str | None, Query(description="Only this user's usage (deleted users' too).")
    ] = None,
    group_by: Annotated[str | None, group_by_query(GROUPS)] = None,
) -> Response:
    """Finished jobs' usage, totalled per group."""
    user_ids = None if user is None else await run(accounts.user_ids_named, user)
    query = usage_query(since, until, group_by, GROUPS, user_ids)
    response: UsageResponse = await run_in_threadpool(usage_response, database, query)
    return response.to_response()
