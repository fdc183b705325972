"""The processing interface the workers call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from imagetune.engine.metadata import DEFAULT_METADATA, MetadataMode
from imagetune.engine.models import DEFAULT_MODEL, ModelName

ProgressCallback = Callable[[int, int], None]
"""Called with (steps done, steps in all) as processing advances."""

PhaseCallback = Callable[[str, float], None]
"""Called with (phase, seconds) as each phase ends: decode, inference, resize, encode."""


class Device(StrEnum):
    """Where inference runs."""

    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"


class OutputFormat(StrEnum):
    PNG = "png"
    """APNG for an animated original."""
    JPEG = "jpeg"
    WEBP = "webp"
    AVIF = "avif"
    GIF = "gif"

    @property
    def animates(self) -> bool:
        """Whether the format holds an animation (the others take stills only)."""
        return self in (OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.GIF)


DEFAULT_OUTPUT_FORMAT = OutputFormat.PNG

ENGINE_REVISION = 2
"""Raised whenever the same request would give a different result (a recipe, an encoder
setting, a format now read differently), so that results made before are not reused
(imagetune.jobs.reuse). 2: animations kept, the JPEG noise level per quality, density."""


@dataclass(frozen=True)
class ProcessRequest:
    long_side: int
    """The result's longer side, in pixels; the aspect ratio is kept."""
    model: ModelName = DEFAULT_MODEL
    output_format: OutputFormat = DEFAULT_OUTPUT_FORMAT
    metadata: MetadataMode = DEFAULT_METADATA
    time_limit: float | None = None
    """Seconds processing may take; past it, TimedOut (checked between tiles)."""
    on_phase: PhaseCallback | None = field(default=None, compare=False)
    """Told how long each phase took (for metrics); the engine keeps no timings itself."""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    extension: str
    width: int
    height: int


class Processor(Protocol):
    use_gpu: bool
    """Whether processing runs on a GPU (decided once, when the processor is built)."""

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        """Turn the original's bytes into the encoded result.

        Raises UndecodableImage for an upload that is not a supported image, and the
        engine's typed errors (imagetune.engine.errors) when it cannot finish."""
