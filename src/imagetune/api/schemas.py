"""Response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from imagetune.engine.base import OutputFormat
from imagetune.engine.models import ModelName
from imagetune.jobs.models import PublicStatus, Scale


class JobIdResponse(BaseModel):
    job_id: uuid.UUID = Field(description="Poll GET /public/v1/job/{job_id} with it.")


class WebhookStatus(BaseModel):
    url: str = Field(description="The webhook URL, any query string removed.")
    events: list[str] = Field(description="The events it is called for: start, completed.")
    status: str | None = Field(
        default=None,
        description="The last message's delivery: pending (being delivered or retried), "
        "delivered or failed (given up, refused by the address rule, or 410); null before "
        "the first message.",
    )
    attempts: int = Field(default=0, description="Delivery attempts of the last message.")


class JobResponse(BaseModel):
    job_id: uuid.UUID
    status: PublicStatus = Field(
        description="Pending (queued or running), Succeed (done) or Failed; never moves back."
    )
    image_urls: list[str] = Field(
        description="Absolute, signed, expiring URLs of the results; [] unless Succeed, "
        "and [] again once the results have expired."
    )
    scale: Scale
    model: ModelName = Field(description="The model the job runs (see GET /public/v1/models).")
    output_format: OutputFormat
    progress: int = Field(ge=0, le=100, description="Percent done (100 once Succeed).")
    error: str | None = Field(default=None, description="Why the job Failed; null otherwise.")
    created_at: datetime
    started_at: datetime | None = Field(
        default=None, description="When a worker last started it; null while queued."
    )
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(
        default=None,
        description="When the original and results are deleted (their URLs stop working); "
        "null until the job finishes.",
    )
    webhook: WebhookStatus | None = Field(
        default=None, description="The job's webhook and how its delivery went; null if none."
    )


class ModelResponse(BaseModel):
    name: ModelName = Field(description="Value for the upscale request's model field.")
    kind: str = Field(description="faithful, gan, illustration or resampling")
    description: str
    default: bool
    licenses: list[str] = Field(description="Licences of the network weights it runs.")


class HealthResponse(BaseModel):
    status: str


class ReadinessResponse(BaseModel):
    status: str = Field(description="ready or unavailable")
    database: bool
    storage: bool
    workers_expected: int
    workers_alive: int
    device: str | None = Field(
        default=None, description="What this process's workers run on (null: no workers)."
    )
    problems: dict[str, str] = Field(
        default_factory=dict,
        description="What keeps the service from being ready, by part (database, storage, "
        "workers), in words for an operator; empty when ready.",
    )
