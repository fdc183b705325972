"""The engine's phase hook: each phase reported once, in order, with its time."""

from __future__ import annotations

from imagetune.engine.base import ProcessRequest
from imagetune.engine.models import ModelName
from imagetune.engine.pipeline import Upscaler
from tests.support import make_image


def phases_of(upscaler: Upscaler, model: ModelName) -> list[tuple[str, float]]:
    reported: list[tuple[str, float]] = []
    request = ProcessRequest(
        256, model=model, on_phase=lambda phase, seconds: reported.append((phase, seconds))
    )
    upscaler.process(make_image((64, 48)), request)
    return reported


def test_a_network_model_reports_every_phase(upscaler: Upscaler) -> None:
    reported = phases_of(upscaler, ModelName.PHOTO)
    assert [phase for phase, _ in reported] == ["decode", "inference", "resize", "encode"]
    assert all(seconds >= 0 for _, seconds in reported)
    assert reported[1][1] > 0  # a network ran


def test_resampling_alone_has_no_inference_phase(upscaler: Upscaler) -> None:
    reported = phases_of(upscaler, ModelName.CLASSIC)
    assert [phase for phase, _ in reported] == ["decode", "resize", "encode"]


def test_the_hook_does_not_change_requests_equality() -> None:
    plain = ProcessRequest(1024)
    assert ProcessRequest(1024, on_phase=lambda *_: None) == plain
