"""The processing interface the workers call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

ProgressCallback = Callable[[int, int], None]
"""Called with (steps done, steps in all) as processing advances."""


class Device(StrEnum):
    """Where inference runs."""

    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"


@dataclass(frozen=True)
class ProcessRequest:
    long_side: int
    """The result's longer side, in pixels; the aspect ratio is kept."""
    model: str = "photo"
    """A name from imagetune.engine.models.MODELS."""
    output_format: str = "png"
    """png, jpeg or webp."""
    metadata: str = "strip"
    """strip or keep (imagetune.engine.metadata.MetadataMode)."""


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    media_type: str
    extension: str
    width: int
    height: int


class Processor(Protocol):
    use_gpu: bool
    """Whether processing runs on a GPU (decided once, when the processor is built)."""

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        """Turn the original's bytes into the encoded result; raises InvalidImage."""
