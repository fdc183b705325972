"""The public contract: /public/v1 (see shared API.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from imagetune.api.auth import AuthenticatedRoute, SubmissionRoute
from imagetune.api.deps import CurrentUser, InspectorDep, JobsDep, SettingsDep, StorageDep
from imagetune.api.polling import BatchedJobReader
from imagetune.api.schemas import JobIdResponse, JobResponse, ModelResponse
from imagetune.config import Settings
from imagetune.db.models import utcnow
from imagetune.engine.base import DEFAULT_OUTPUT_FORMAT, OutputFormat
from imagetune.engine.models import DEFAULT_MODEL, MODELS, ModelName
from imagetune.errors import InvalidApiKey, JobNotFound, UserNotFound
from imagetune.jobs.models import JobOptions, JobRecord, JobState, NewJob, Scale
from imagetune.jobs.reuse import fingerprint
from imagetune.storage.base import Storage

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
    response_model=JobIdResponse,
    responses={
        400: {"description": "Invalid image file, or a malformed multipart body"},
        413: {"description": "Upload larger than IMAGETUNE_MAX_UPLOAD_BYTES"},
        429: {"description": "Rate limit, unfinished-job cap or queue full (see Retry-After)"},
    },
)
def upscale(
    user_id: CurrentUser,
    jobs: JobsDep,
    storage: StorageDep,
    inspector: InspectorDep,
    settings: SettingsDep,
    image: Annotated[
        UploadFile, File(description="The original: PNG, JPEG, WebP, GIF, BMP, TIFF or AVIF.")
    ],
    scale: Annotated[Scale, Form(description="Longer side of the result: 1024, 2048, 4096 px.")],
    model: Annotated[
        ModelName, Form(description="Extension: see GET /public/v1/models. Default: photo.")
    ] = DEFAULT_MODEL,
    output_format: Annotated[
        OutputFormat, Form(description="Extension: png (default), jpeg or webp.")
    ] = DEFAULT_OUTPUT_FORMAT,
) -> JobIdResponse:
    """Create an upscale job; returns at once with its id while the work runs behind."""
    data = image.file.read()
    # Refuse what a worker could not decode, before storing anything (in an isolated
    # process: a hostile file must not hurt the API).
    inspector.check(data)
    job_id = uuid.uuid4()
    original_key = f"originals/{job_id}"
    options = JobOptions(model=model, output_format=output_format)
    job = NewJob(
        id=job_id,
        user_id=user_id,
        scale=scale,
        original_key=original_key,
        options=options,
        fingerprint=fingerprint(data, scale, options),
    )
    if settings.result_reuse and jobs.create_reusing(job):
        return JobIdResponse(job_id=job_id)
    storage.write(original_key, data)
    jobs.create(job)
    return JobIdResponse(job_id=job_id)


@router.get(
    "/job/{job_id}",
    response_model=JobResponse,
    responses={404: {"description": "Job not found, or Not Found User"}},
)
async def get_job(
    request: Request,
    job_id: uuid.UUID,
    user_id: CurrentUser,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    """The job's status, and the URLs of its results once it has succeeded."""
    # The hottest route: the read is batched with concurrent polls (api/polling.py).
    job = await job_reader(request).get(job_id)
    body = job_status(job, user_id, storage, settings)
    # Serialised once by pydantic, not validated again against response_model.
    return Response(body.model_dump_json(), media_type="application/json")


def job_status(
    job: JobRecord | None, user_id: int, storage: Storage, settings: Settings
) -> JobResponse:
    if job is None or job.user_id != user_id:
        raise JobNotFound()
    urls = []
    if job.state is JobState.SUCCEEDED and job.purged_at is None and job.expires_at:
        # A link never outlives the file it points to.
        left = int((job.expires_at - utcnow()).total_seconds())
        ttl = min(settings.result_url_ttl, left)
        if ttl > 0:
            urls = [storage.url(key, ttl) for key in job.result_keys]
    return JobResponse(
        job_id=job.id,
        status=job.state.public,
        image_urls=urls,
        scale=job.scale,
        model=job.options.model,
        output_format=job.options.output_format,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
    )


def job_reader(request: Request) -> BatchedJobReader:
    reader: BatchedJobReader = request.app.state.job_reader
    return reader


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
