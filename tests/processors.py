"""Processors for tests that need jobs to take a chosen time, not real inference.

They implement imagetune.engine.base.Processor with the engine's own decode, exact-size
Lanczos resize and encode, so results are real images of the contract's sizes; only the
networks are left out. "Long enough to be caught mid-job" is then a setting.

A spec string chooses one (IMAGETUNE_TEST_PROCESSOR for `python -m tests.fake_imagetune`):

- ``sleep:SECONDS``: each job takes SECONDS, reporting progress as it goes;
- ``per-mp:SECONDS``: each job takes SECONDS per megapixel of its original, so a big
  original is the one a test catches mid-job while small ones pass quickly;
- ``gate:PATH``: each job waits until the file PATH exists (at most 120 s), so a test
  decides exactly when jobs finish;
- ``broken:MESSAGE``: no processor: building it raises RuntimeError(MESSAGE), so every
  worker process dies at its start (a crash loop);
- ``engine``: the real engine (imagetune.wiring.processor).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

from imagetune import wiring
from imagetune.config import Settings
from imagetune.engine.base import ProcessedImage, Processor, ProcessRequest, ProgressCallback
from imagetune.engine.decode import decode
from imagetune.engine.encode import encode
from imagetune.engine.errors import TimedOut
from imagetune.engine.resample import resize
from imagetune.engine.sizing import target_size
from imagetune.hosting.worker_process import ProcessorFactory

STEPS = 20
GATE_LIMIT = 120.0


@dataclass
class TimedProcessor:
    """Each job takes ``seconds`` (or waits for ``gate`` to exist), then resizes."""

    seconds: float = 0.0
    gate: Path | None = None
    per_megapixel: bool = False
    use_gpu: bool = False

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        phases = _Phases(request)
        decoded = decode(data)
        phases.done("decode")
        height, width = decoded.pixels.shape[:2]
        seconds = self.seconds * (width * height / 1e6 if self.per_megapixel else 1.0)
        started = time.monotonic()
        for step in range(STEPS):
            if self._done(started, seconds):
                break
            if progress:
                progress(step, STEPS)
            # The time limit is checked every 50 ms at most, as the engine checks it
            # between tiles: a job stops itself soon after its limit, before the pool's
            # backstop (which kills the worker) would.
            step_end = time.monotonic() + (seconds / STEPS if self.gate is None else 0.02)
            while (now := time.monotonic()) < step_end:
                if request.time_limit is not None and now - started > request.time_limit:
                    raise TimedOut(request.time_limit)
                time.sleep(min(0.05, step_end - now))
        while self.gate is not None and not self._done(started, seconds):
            time.sleep(0.02)
        phases.done("inference")
        pixels = resize(decoded.pixels, target_size(width, height, request.long_side))
        phases.done("resize")
        result = encode(pixels, request.output_format, decoded.icc_profile)
        phases.done("encode")
        return result

    def _done(self, started: float, seconds: float) -> bool:
        elapsed = time.monotonic() - started
        if self.gate is not None:
            return self.gate.exists() or elapsed > GATE_LIMIT
        return elapsed >= seconds


class _Phases:
    """Reports phases as the engine does (the chosen time counts as inference)."""

    def __init__(self, request: ProcessRequest) -> None:
        self._on_phase = request.on_phase
        self._since = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        if self._on_phase is not None:
            self._on_phase(phase, now - self._since)
        self._since = now


def _timed(seconds: float, gate: str | None, per_mp: bool, _settings: Settings) -> Processor:
    return TimedProcessor(seconds, Path(gate) if gate else None, per_megapixel=per_mp)


def processor_factory(spec: str) -> ProcessorFactory:
    """The factory a spec string names (see the module docstring); picklable."""
    kind, _, argument = spec.partition(":")
    if kind == "engine":
        return wiring.processor
    if kind == "sleep":
        return functools.partial(_timed, float(argument or 0), None, False)
    if kind == "per-mp":
        return functools.partial(_timed, float(argument), None, True)
    if kind == "gate":
        return functools.partial(_timed, 0.0, argument, False)
    if kind == "broken":
        return functools.partial(_broken, argument)
    raise ValueError(f"unknown test processor {spec!r}")


def _broken(message: str, settings: Settings) -> Processor:
    raise RuntimeError(message)
