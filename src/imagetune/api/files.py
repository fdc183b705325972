"""Serving stored results under signed, expiring URLs."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from imagetune.api.deps import ServicesDep
from imagetune.errors import FileLinkInvalid, FileNotFound
from imagetune.storage.base import StorageError, validate_key
from imagetune.storage.local import LocalStorage

router = APIRouter(tags=["files"])

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=300",
}


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
def get_file(
    key: str,
    services: ServicesDep,
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
    storage = services.storage
    if not isinstance(storage, LocalStorage):
        raise FileNotFound()
    if not storage.verify(key, int(expires), sig):
        raise FileLinkInvalid()
    path = storage.path(key)
    if not path.is_file():
        raise FileNotFound()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers=FILE_HEADERS)
