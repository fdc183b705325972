"""The public contract: /public/v1 (see shared API.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from imagetune.api.auth import AuthenticatedRoute, SubmissionRoute
from imagetune.api.deps import CurrentUser, SubmissionsDep
from imagetune.api.idempotency import REPLAYED_HEADER, IdempotencyKeyHeader
from imagetune.api.schemas import JobIdResponse, ModelResponse
from imagetune.api.services import services
from imagetune.api.submissions import Submission
from imagetune.api.webhooks import FILTER_DESCRIPTION, WEBHOOK_DESCRIPTION
from imagetune.engine.base import DEFAULT_OUTPUT_FORMAT, OutputFormat
from imagetune.engine.metadata import DEFAULT_METADATA, MetadataMode
from imagetune.engine.models import DEFAULT_MODEL, MODELS, ModelName
from imagetune.errors import InvalidApiKey, UserNotFound
from imagetune.jobs.models import JobOptions, Scale
from imagetune.jobs.view import JobResponse

AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": InvalidApiKey.detail},
    404: {"description": f"{UserNotFound.detail} (the key's user was deleted)"},
}

# A real upload has four short fields and one file; anything far beyond is abuse.
FORM_LIMITS = {"max_fields": 16, "max_files": 1, "max_part_size": 64 * 1024}

router = APIRouter(prefix="/public/v1", route_class=AuthenticatedRoute, responses=AUTH_ERRORS)
# Routes that create jobs: the same authentication, then quotas before the upload is read.
submissions = APIRouter(
    prefix="/public/v1",
    route_class=SubmissionRoute,
    responses=AUTH_ERRORS,
    form_limits=FORM_LIMITS,  # type: ignore[arg-type]
)


@submissions.post(
    "/image-tune/upscale",
    # No response_model: FastAPI validates a plain ``def`` route's answer against it on a
    # thread of its own, one more hop per submission. The model documents the answer.
    response_model=None,
    responses={
        200: {
            "model": JobIdResponse,
            "description": f"The job; {REPLAYED_HEADER}: true when an Idempotency-Key "
            "repeated an earlier request (nothing new was created)",
        },
        400: {
            "description": "Invalid image file (also: past the pixel or animation frame "
            "limits), or a malformed multipart body"
        },
        413: {
            "description": "Upload larger than IMAGETUNE_MAX_UPLOAD_BYTES, or an animation "
            "whose result frames together pass IMAGETUNE_MAX_ANIMATION_OUTPUT_PIXELS"
        },
        429: {
            "description": "Rate limit, unfinished-job cap, queue full or monthly budget "
            "exceeded (see Retry-After)"
        },
    },
)
def upscale(
    user_id: CurrentUser,
    submissions: SubmissionsDep,
    image: Annotated[
        UploadFile,
        File(
            description="The original: PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF or HEIC/HEIF. "
            "An animated GIF, WebP or PNG (APNG) is upscaled frame by frame."
        ),
    ],
    scale: Annotated[Scale, Form(description="Longer side of the result: 1024, 2048, 4096 px.")],
    model: Annotated[
        ModelName, Form(description="Extension: see GET /public/v1/models. Default: photo.")
    ] = DEFAULT_MODEL,
    output_format: Annotated[
        OutputFormat,
        Form(
            description="Extension: png (default), jpeg, webp, avif or gif. An animation "
            "stays one: png gives APNG, webp animated WebP, gif GIF; jpeg and avif hold no "
            "animation (422)."
        ),
    ] = DEFAULT_OUTPUT_FORMAT,
    metadata: Annotated[
        MetadataMode,
        Form(
            description="Extension: strip (default: only the ICC profile is kept) or keep "
            "(EXIF, XMP and IPTC carried, GPS location included; orientation reset to 1 "
            "and pixel dimensions updated)."
        ),
    ] = DEFAULT_METADATA,
    webhook: Annotated[str | None, Form(description=WEBHOOK_DESCRIPTION)] = None,
    webhook_events_filter: Annotated[str | None, Form(description=FILTER_DESCRIPTION)] = None,
    idempotency_key: IdempotencyKeyHeader = None,
    *,
    response: Response,
) -> JobIdResponse:
    """Create an upscale job; returns at once with its id while the work runs behind."""
    submitted = submissions.submit(
        user_id,
        Submission(
            image=image.file,
            scale=scale,
            options=JobOptions(model=model, output_format=output_format, metadata=metadata),
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            idempotency_key=idempotency_key,
        ),
    )
    if submitted.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return JobIdResponse(job_id=submitted.job_id)


@router.get(
    "/job/{job_id}",
    response_model=JobResponse,
    responses={404: {"description": "Job not found, or Not Found User"}},
    # The key is checked by AuthenticatedRoute, as everywhere; declared here by hand
    # because this route takes no CurrentUser dependency (below).
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def get_job(request: Request, job_id: uuid.UUID) -> Response:
    """The job's status, and the URLs of its results once it has succeeded."""
    # The hottest route takes its parts from the request, not as dependencies: FastAPI
    # solves each dependency per request, and profiling put that at a third of the
    # route's own time (see docs/benchmarks.md). Its work is in api/polling.py.
    body = await services(request).polls.status(job_id, request.state.user_id)
    # Serialised once by pydantic, not validated again against response_model.
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/models", response_model=list[ModelResponse])
def list_models(user_id: CurrentUser) -> list[ModelResponse]:
    """The values of the upscale request's optional ``model`` field."""
    return [
        ModelResponse(
            name=info.name,
            kind=info.kind.value if info.kind else "resampling",
            description=info.description,
            default=info.name is DEFAULT_MODEL,
            licenses=list(info.licenses),
        )
        for info in MODELS.values()
    ]
