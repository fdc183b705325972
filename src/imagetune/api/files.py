"""Serving results from local storage under signed, expiring URLs.

Mounted only when storage is local; with an object store, result URLs are the store's own
presigned URLs and this route does not exist.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from imagetune.errors import FileLinkInvalid, FileNotFound
from imagetune.storage.base import StorageError, validate_key
from imagetune.storage.local import FILES_ROUTE, LocalStorage

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=300",
}


def files_router(storage: LocalStorage) -> APIRouter:
    router = APIRouter(tags=["files"])

    @router.api_route(FILES_ROUTE + "{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def get_file(
        key: str,
        expires: Annotated[str | None, Query()] = None,
        sig: Annotated[str | None, Query()] = None,
    ) -> FileResponse:
        """A stored result; the link must carry a valid, unexpired signature."""
        try:
            key = validate_key(key)
        except StorageError as e:
            raise FileNotFound() from e
        if not expires or not expires.isdigit() or not sig:
            raise FileLinkInvalid()
        if not storage.verify(key, int(expires), sig):
            raise FileLinkInvalid()
        path = storage.path(key)
        if not path.is_file():
            raise FileNotFound()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, headers=FILE_HEADERS)

    return router
