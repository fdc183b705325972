"""One error model: domain exceptions become ``{"detail": <public message>}`` with their
status; a transient fault of the infrastructure (imagetune.errors.transient) a 503 with
Retry-After; anything else is a 500. The cause of a 5xx goes only to the log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, TimeoutError

from imagetune.errors import ImagetuneError, ServiceUnavailable, transient
from imagetune.storage.base import StorageError

log = logging.getLogger(__name__)


async def handle_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImagetuneError)
    if exc.reason:
        request.state.rejection = exc.reason  # for imagetune.metrics.http
    if exc.internal != exc.detail:
        # The client gets the public message; the cause stays here.
        log.info("%s %s: %s", request.method, request.url.path, exc.internal)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.response_headers()
    )


async def handle_infrastructure_error(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the database and storage layers: 503 when transient, else a bug's 500."""
    if not transient(exc):
        return await handle_unexpected_error(request, exc)
    log.warning("%s %s: unavailable: %s", request.method, request.url.path, _cause(exc))
    unavailable = ServiceUnavailable()
    return JSONResponse(
        {"detail": unavailable.detail},
        status_code=unavailable.status_code,
        headers=unavailable.response_headers(),
    )


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if transient(exc):  # psycopg's or Procrastinate's own, not a class registered below
        return await handle_infrastructure_error(request, exc)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def _cause(exc: BaseException) -> str:
    # SQLAlchemy's text repeats the statement and its parameters: the driver's is enough.
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {original}".strip()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ImagetuneError, handle_domain_error)
    # Handled by class, not only under Exception: Starlette re-raises what reaches the
    # catch-all after answering, and the server would log a traceback for each 503.
    for infrastructure in (DBAPIError, TimeoutError, StorageError):
        app.add_exception_handler(infrastructure, handle_infrastructure_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
