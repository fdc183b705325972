"""Bearer-key authentication, done before anything else in a request is looked at."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from imagetune import logs
from imagetune.accounts import Accounts
from imagetune.api.keycache import Check
from imagetune.api.services import services
from imagetune.errors import InvalidApiKey, UploadTooLarge


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
            parts = services(request)
            request.state.user_id = await parts.key_cache.user_id(key)
            logs.user_id.set(request.state.user_id)
            headers = await self.before_body(request)
            response = await handler(limit_body(request, parts.max_upload_bytes))
            response.headers.update(headers)
            return response

        return authenticated

    async def before_body(self, request: Request) -> dict[str, str]:
        """Checks between authentication and reading the body; headers for the answer."""
        return {}


class SubmissionRoute(AuthenticatedRoute):
    """A route that creates jobs: quotas are checked before the upload is read."""

    async def before_body(self, request: Request) -> dict[str, str]:
        headers: dict[str, str] = await run_in_threadpool(
            services(request).submissions.admit,
            request.state.user_id,
            request.headers.get("idempotency-key"),
        )
        return headers


def database_check(accounts: Accounts, readers: CapacityLimiter) -> Check:
    """The KeyCache's question to the database: a read on one of ``readers``' threads."""

    async def check(key: str) -> int:
        user_id: int = await to_thread.run_sync(accounts.authenticate, key, limiter=readers)
        return user_id

    return check


DATABASE_READERS = 4
"""Threads reading for authentication at once: under the database pool's five
connections, so a burst of new keys waits on the event loop instead of opening (and,
past the pool's overflow, closing again) a connection per request."""


def limit_body(request: Request, limit: int) -> Request:
    """``request`` reading at most ``limit`` body bytes; beyond that, 413.

    A declared Content-Length over the limit is refused before anything is read; a
    chunked body is counted as it streams, so an oversize upload is never held whole.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(limit)
    receive = request.receive
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException: FastAPI turns any other error while it parses a form
                # into 400 "There was an error parsing the body".
                raise HTTPException(413, UploadTooLarge(limit).detail)
        return message

    return Request(request.scope, counting_receive)
