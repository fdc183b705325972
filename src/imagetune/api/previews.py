"""A preview of an original the browser cannot show (the playground's HEIC originals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile

from imagetune.api.auth import AuthenticatedRoute
from imagetune.api.deps import CurrentUser, InspectorDep
from imagetune.api.public import AUTH_ERRORS
from imagetune.engine.preview import PREVIEW_LONG_SIDE

router = APIRouter(prefix="/public/v1", route_class=AuthenticatedRoute, responses=AUTH_ERRORS)


@router.post(
    "/preview",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}},
            "description": f"The image, upright, at most {PREVIEW_LONG_SIDE} px on its longer "
            "side: JPEG, or PNG when it has transparency; X-Image-Size: the image's own "
            "width x height",
        },
        400: {"description": "Invalid image file"},
        413: {"description": "Upload larger than IMAGETUNE_MAX_UPLOAD_BYTES"},
    },
)
def make_preview(
    user_id: CurrentUser,
    inspector: InspectorDep,
    image: Annotated[UploadFile, File(description="Any image an upscale accepts.")],
) -> Response:
    """Extension: a small JPEG or PNG of an image, for showing an original whose format the
    browser cannot decode (HEIC). Decoded like an upload, in an isolated process; nothing
    is stored and no job is made."""
    data, media_type, (width, height) = inspector.preview(image.file.read())
    headers = {"Cache-Control": "no-store", "X-Image-Size": f"{width}x{height}"}
    return Response(data, media_type=media_type, headers=headers)
