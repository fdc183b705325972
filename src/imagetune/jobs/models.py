"""What a job is: its scale, its states, and the record the store hands out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from imagetune.engine.base import DEFAULT_OUTPUT_FORMAT, OutputFormat, ProcessRequest
from imagetune.engine.metadata import DEFAULT_METADATA, MetadataMode
from imagetune.engine.models import DEFAULT_MODEL, ModelName
from imagetune.engine.sizing import target_size


class Scale(StrEnum):
    """Target resolution: the result's longer side in pixels."""

    K1 = "1K"
    K2 = "2K"
    K4 = "4K"

    @property
    def pixels(self) -> int:
        return {"1K": 1024, "2K": 2048, "4K": 4096}[self.value]

    def output_pixels(self, width: int, height: int) -> int:
        """The area of the result of a ``width`` x ``height`` original."""
        out_width, out_height = target_size(width, height, self.pixels)
        return out_width * out_height


class PublicStatus(StrEnum):
    """The status words of the public contract."""

    PENDING = "Pending"
    SUCCEED = "Succeed"
    FAILED = "Failed"


class JobState(StrEnum):
    """Where a job is. Only QUEUED -> RUNNING -> (SUCCEEDED | FAILED) and
    RUNNING -> QUEUED (handed back by a stopped or dead worker) ever happen;
    imagetune.jobs.states.JobStates is the one place that moves a job."""

    QUEUED = "queued"
    """Waiting for a worker."""
    RUNNING = "running"
    """A worker has claimed it."""
    SUCCEEDED = "succeeded"
    """Finished; results are stored."""
    FAILED = "failed"
    """Finished without a result; ``error`` says why."""

    @property
    def public(self) -> PublicStatus:
        if self is JobState.SUCCEEDED:
            return PublicStatus.SUCCEED
        if self is JobState.FAILED:
            return PublicStatus.FAILED
        return PublicStatus.PENDING

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True)
class JobOptions:
    """The request's optional fields that change the result (stored as JSON)."""

    model: ModelName = DEFAULT_MODEL
    output_format: OutputFormat = DEFAULT_OUTPUT_FORMAT
    metadata: MetadataMode = DEFAULT_METADATA

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model.value,
            "output_format": self.output_format.value,
            "metadata": self.metadata.value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobOptions:
        return cls(
            model=ModelName(data.get("model", DEFAULT_MODEL)),
            output_format=OutputFormat(data.get("output_format", DEFAULT_OUTPUT_FORMAT)),
            metadata=MetadataMode(data.get("metadata", DEFAULT_METADATA)),
        )


@dataclass(frozen=True)
class NewJob:
    id: uuid.UUID
    user_id: int
    scale: Scale
    original_key: str
    options: JobOptions = field(default_factory=JobOptions)
    # An Idempotency-Key and the hash of the request it came with (jobs/idempotency.py).
    idempotency_key: str | None = None
    request_hash: str | None = None
    request_id: str | None = None
    # The webhook to call when it starts or ends, and for which (imagetune.webhooks).
    webhook_url: str | None = None
    webhook_events: str = ""
    fingerprint: str | None = None
    """Of the request, for result reuse (imagetune.jobs.reuse)."""
    input_pixels: int | None = None
    output_pixels: int | None = None
    """The original's and the result's width x height (imagetune.jobs.usage)."""


@dataclass(frozen=True)
class JobRecord:
    id: uuid.UUID
    user_id: int
    state: JobState
    scale: Scale
    options: JobOptions
    original_key: str
    result_keys: list[str]
    error: str | None
    attempts: int
    progress: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = None
    """When the original and results are (or were) deleted."""
    purged_at: datetime | None = None
    request_id: str | None = None
    """The X-Request-ID of the request that created the job."""

    def to_json(self) -> dict[str, Any]:
        """The record in JSON values, every field: its one serialisation (a webhook
        message's snapshot), so a new field travels without another mapping."""
        data: dict[str, Any] = _RECORD.dump_python(self, mode="json")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """The record ``to_json`` gave; a field it lacks (written before that field
        existed) takes its default."""
        return _RECORD.validate_python(data)

    def process_request(self, time_limit: float | None = None) -> ProcessRequest:
        return ProcessRequest(
            self.scale.pixels,
            model=self.options.model,
            output_format=self.options.output_format,
            metadata=self.options.metadata,
            time_limit=time_limit,
        )


_RECORD = TypeAdapter(JobRecord)
