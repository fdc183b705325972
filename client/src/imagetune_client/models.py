"""What the server answers, as dataclasses. Unknown fields are ignored, so a newer server
never breaks an older client."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

PENDING = "Pending"
SUCCEED = "Succeed"
FAILED = "Failed"


def _known_fields(cls: type[T], body: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in body.items() if k in names})


@dataclass(frozen=True)
class Job:
    """An upscale job, as ``GET /public/v1/job/{job_id}`` describes it.

    ``status`` is ``Pending``, then exactly one of ``Succeed`` or ``Failed``. Timestamps
    are the server's ISO 8601 strings.
    """

    job_id: str
    status: str = PENDING
    image_urls: list[str] = field(default_factory=list)
    progress: int = 0
    error: str | None = None
    scale: str | None = None
    model: str | None = None
    output_format: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    webhook: dict[str, Any] | None = None
    """The job's webhook (``url``, ``events``, last delivery ``status``, ``attempts``)."""

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Job:
        return _known_fields(cls, body)

    @property
    def done(self) -> bool:
        """True once the job has left Pending (Succeed or Failed)."""
        return self.status != PENDING


@dataclass(frozen=True)
class Model:
    """One value of the upscale request's ``model`` field (``GET /public/v1/models``)."""

    name: str
    kind: str = ""
    description: str = ""
    default: bool = False
    licenses: list[str] = field(default_factory=list)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Model:
        return _known_fields(cls, body)
