"""The browser playground: a static page at ``/`` that uses the public API alone.

The page's code lives in ``imagetune/playground``; this module serves it under a
strict Content-Security-Policy. Results are shown from their own URLs, so the policy lets
images come from the origin the storage puts in result URLs (the object store's, for S3).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from imagetune.api.deps import StorageDep
from imagetune.playground import PAGE, STATIC_DIR
from imagetune.storage.base import Storage

STATIC_PREFIX = "/playground"

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def result_origin(storage: Storage) -> str | None:
    """The scheme://host[:port] of the URLs ``storage`` hands out for results."""
    # Asking the storage for a URL is local work (HMAC or SigV4 presigning, no request).
    parts = urlsplit(storage.url("results/origin-probe.png", 60))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(image_origin: str | None) -> str:
    """No inline code, nothing from elsewhere; images also from blob: and the results."""
    images = " ".join(["'self'", "blob:", *([image_origin] if image_origin else [])])
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {images}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class PlaygroundFiles(StaticFiles):
    """The page's scripts and styles, with the same hardening headers as the page."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(COMMON_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


def playground_page(storage: StorageDep) -> FileResponse:
    """The playground's HTML, with its Content-Security-Policy."""
    headers = {
        **COMMON_HEADERS,
        "Content-Security-Policy": content_security_policy(result_origin(storage)),
        "Cache-Control": "no-cache",
    }
    return FileResponse(PAGE, media_type="text/html", headers=headers)


def install_playground(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/playground/``."""
    app.add_api_route("/", playground_page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(STATIC_PREFIX, PlaygroundFiles(directory=STATIC_DIR), name="playground")
