"""Response bodies (a job's, also a webhook's ``data``, is imagetune.jobs.view's)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from imagetune.engine.models import ModelName


class JobIdResponse(BaseModel):
    job_id: uuid.UUID = Field(description="Poll GET /public/v1/job/{job_id} with it.")


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
