"""One error model: domain exceptions become ``{"detail": <public message>}`` with their
status; anything else is a 500 whose cause goes only to the log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from imagetune.errors import ImagetuneError

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


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ImagetuneError, handle_domain_error)
    app.add_exception_handler(Exception, handle_unexpected_error)
