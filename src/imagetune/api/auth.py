"""Bearer-key authentication, done before anything else in a request is looked at."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from imagetune.errors import InvalidApiKey


def bearer_key(authorization: str | None) -> str:
    """The key in an ``Authorization: Bearer <key>`` header; InvalidApiKey otherwise."""
    if not authorization:
        raise InvalidApiKey()
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise InvalidApiKey()
    return key


class AuthenticatedRoute(APIRoute):
    """A route that authenticates before FastAPI reads or validates the body and params.

    A plain dependency would run after the multipart body has been parsed and alongside
    parameter validation, so a bad key could get a 422 instead of the contract's 401.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            key = bearer_key(request.headers.get("authorization"))
            accounts = request.app.state.services.accounts
            request.state.user_id = await run_in_threadpool(accounts.authenticate, key)
            return await handler(request)

        return authenticated
