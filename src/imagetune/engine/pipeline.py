"""The super-resolution processor: decode, network passes in tiles, exact resize, encode."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from imagetune.engine.alpha import bleed, settle_alpha
from imagetune.engine.animation import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    check_output,
    distinct_frames,
    upscale_frames,
)
from imagetune.engine.base import (
    Device,
    PhaseCallback,
    ProcessedImage,
    ProcessRequest,
    ProgressCallback,
)
from imagetune.engine.decode import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    Checked,
    DecodedImage,
    Pixels,
    decode,
)
from imagetune.engine.devices import VulkanDevice, list_devices, select_devices, with_budget
from imagetune.engine.encode import encode, encode_animation
from imagetune.engine.errors import TimedOut
from imagetune.engine.metadata import MetadataMode, for_result
from imagetune.engine.models import ModelName, plan
from imagetune.engine.networks import NetworkSpec
from imagetune.engine.resample import resize
from imagetune.engine.runtime import FloatImage, Network
from imagetune.engine.sizing import target_size
from imagetune.engine.tiling import MIN_TILE, count_tiles, upscale_tiled

log = logging.getLogger(__name__)

CPU_TILE = 240
"""Core tile side on the CPU: tiles up to ~340 px run fastest per pixel on a 2-core x86
machine (bench/engine_speed.py), and 240 + 2 x 8 overlap keeps the overlap cost low."""
GPU_TILE = 512
GPU_BUDGET_SHARE = 0.5
"""Share of the device's memory budget one tile may use: ncnn's fp16 storage needs less
than the CPU's measured kb_per_pixel, and the weights and the driver need the rest."""

TILE_MEMORY_MB = 384
"""Default budget for one tile's working memory on the CPU: a 4K job then peaks under
1.5 GB with every model (bench/engine_speed.py)."""


@dataclass(frozen=True)
class EngineConfig:
    threads: int = 1
    device: Device = Device.AUTO
    gpu_index: int | None = None
    """The Vulkan device to run on (ncnn's index); None: the best one ``device`` allows."""
    tile: int | None = None
    """Largest core tile side in input pixels; None picks CPU_TILE or GPU_TILE."""
    tile_memory_mb: int = TILE_MEMORY_MB
    """On the CPU, tiles shrink until a network's working memory fits this budget."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Originals with more pixels (an animation: all frames together) are refused from
    their header."""
    max_frames: int = DEFAULT_MAX_FRAMES
    """Animations with more frames are refused."""
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    """An animation whose result frames together would have more pixels is refused."""


class Upscaler:
    """Implements Processor. Networks are loaded on first use and kept for reuse."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.gpu = _choose_gpu(config)
        """The device inference runs on; None: the CPU. Raises NoGpuDevice for ``gpu``
        where there is none."""
        self.use_gpu = self.gpu is not None
        self.tile = config.tile or (GPU_TILE if self.use_gpu else CPU_TILE)
        self._networks: dict[str, Network] = {}

    def tile_for(self, spec: NetworkSpec) -> int:
        """Core tile side for ``spec``: the configured size, or less to fit the budget."""
        if self.gpu is not None:
            budget_kb = self.gpu.memory_budget_mb * 1024 * GPU_BUDGET_SHARE
        else:
            budget_kb = self.config.tile_memory_mb * 1024
        side = math.isqrt(int(budget_kb / spec.kb_per_pixel))
        return max(MIN_TILE, min(self.tile, side - 2 * spec.overlap))

    def network(self, spec: NetworkSpec) -> Network:
        if spec.name not in self._networks:
            self._networks[spec.name] = Network(
                spec,
                threads=self.config.threads,
                use_gpu=self.gpu is not None,
                gpu_index=self.gpu.index if self.gpu else 0,
            )
        return self._networks[spec.name]

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        deadline = _Deadline(request.time_limit)
        timer = _PhaseTimer(request.on_phase)
        decoded = decode(data, self.config.max_pixels, self.config.max_frames)
        timer.done("decode")
        animation = decoded.animation
        frames = [decoded.pixels] if animation is None else animation.frames
        info = Checked(decoded.format, decoded.width, decoded.height, len(frames))
        check_output(info, request.long_side, request.output_format, self.config.max_output_pixels)
        passes = self.passes_for(decoded, request.long_side, request.model)
        # Every tile of every pass of every distinct frame, plus one step for the final
        # resize and encode.
        distinct = len(distinct_frames(frames)[0])
        total = distinct * self._count_tiles(decoded.pixels.shape, passes) + 1
        done = 0

        def tile_done() -> None:
            nonlocal done
            done += 1
            deadline.check()
            if progress:
                progress(done, total)

        def upscale(frame: Pixels) -> Pixels:
            # Resize and alpha work is per frame too: done once per distinct frame.
            return self.upscale(
                replace(decoded, pixels=frame),
                request.long_side,
                request.model,
                on_tile=tile_done,
                timer=timer,
            )

        results = upscale_frames(frames, upscale)
        deadline.check()
        timer.restart()
        if animation is not None:
            result = encode_animation(
                results,
                animation.durations,
                animation.loop,
                request.output_format,
                decoded.icc_profile,
                decoded.dpi,
            )
        else:
            pixels = results[0]
            kept = None
            if request.metadata is MetadataMode.KEEP and decoded.metadata:
                kept = for_result(decoded.metadata, pixels.shape[1], pixels.shape[0])
            result = encode(pixels, request.output_format, decoded.icc_profile, kept, decoded.dpi)
        timer.done("encode")
        if progress:
            progress(total, total)
        return result

    @staticmethod
    def passes_for(decoded: DecodedImage, long_side: int, model: ModelName) -> list[NetworkSpec]:
        """The network passes that take ``decoded`` to ``long_side`` with ``model``."""
        return plan(model, long_side / max(decoded.width, decoded.height), decoded.denoise)

    def upscale(
        self,
        decoded: DecodedImage,
        long_side: int,
        model: ModelName,
        on_tile: Callable[[], None] | None = None,
        timer: _PhaseTimer | None = None,
    ) -> Pixels:
        """The decoded pixels at exactly ``long_side``, through the model's passes."""
        pixels = decoded.pixels
        height, width, channels = pixels.shape
        size = target_size(width, height, long_side)
        passes = self.passes_for(decoded, long_side, model)
        color_channels = 1 if channels <= 2 else 3
        color, alpha = pixels[:, :, :color_channels], pixels[:, :, color_channels:]
        has_alpha = alpha.shape[2] > 0
        if has_alpha:
            color = _from_float(bleed(_to_float(color), _to_float(alpha)[:, :, 0]), color.dtype)
        if passes:
            color = self._run_passes(color, passes, on_tile)
            if timer:
                timer.done("inference")
        if timer:
            timer.restart()
        threads = self.config.threads
        out = resize(color, size, threads)
        if has_alpha:
            resized_alpha = resize(alpha, size, threads)
            out = np.concatenate([out, settle_alpha(resized_alpha, alpha)], axis=2)
        if timer:
            timer.done("resize")
        return out

    def _run_passes(
        self, color: Pixels, passes: list[NetworkSpec], on_tile: Callable[[], None] | None
    ) -> Pixels:
        gray = color.shape[2] == 1
        current: FloatImage = _to_float(np.repeat(color, 3, axis=2) if gray else color)
        result: npt.NDArray[Any] = current
        for index, spec in enumerate(passes):
            last = index == len(passes) - 1
            height, width = current.shape[:2]
            result = np.empty(
                (height * spec.scale, width * spec.scale, 3),
                dtype=color.dtype if last else np.float32,
            )
            network = self.network(spec)
            pool = _PoolKeeper(network)
            try:
                upscale_tiled(
                    current,
                    network.run,
                    scale=spec.scale,
                    tile=self.tile_for(spec),
                    overlap=spec.overlap,
                    out=result,
                    on_tile=_chain(pool.tile_done, on_tile),
                    on_row=pool.row_done,
                    even=network.use_gpu,
                )
            finally:  # a failed job hands its pooled memory back too
                network.release()
            if not last:
                current = result
        if gray:
            # Accumulated in float32 without a float copy of the whole canvas.
            averaged = result.mean(axis=2, dtype=np.float32, keepdims=True)
            gray_out: Pixels = np.rint(averaged).astype(color.dtype)
            return gray_out
        return result

    def _count_tiles(self, shape: tuple[int, ...], passes: list[NetworkSpec]) -> int:
        height, width = shape[0], shape[1]
        total = 0
        for spec in passes:
            total += count_tiles(height, width, self.tile_for(spec))
            height, width = height * spec.scale, width * spec.scale
        return total


class _PhaseTimer:
    """Reports the seconds since the last phase ended (or restart()) to ``on_phase``."""

    def __init__(self, on_phase: PhaseCallback | None) -> None:
        self._on_phase = on_phase
        self._since = time.perf_counter()

    def restart(self) -> None:
        self._since = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        if self._on_phase is not None:
            self._on_phase(phase, now - self._since)
        self._since = now


class _Deadline:
    """Raises TimedOut once ``limit`` seconds have passed since it was made."""

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._at = None if limit is None else time.monotonic() + limit

    def check(self) -> None:
        if self._at is not None and self._limit is not None and time.monotonic() > self._at:
            raise TimedOut(self._limit)


def _choose_gpu(config: EngineConfig) -> VulkanDevice | None:
    if config.device is Device.CPU:
        return None
    indexes = None if config.gpu_index is None else [config.gpu_index]
    selection = select_devices(list_devices(budgets=False), config.device, indexes)
    if not selection.devices:
        log.info("engine runs on the CPU (%s)", selection.reason)
        return None
    device = with_budget(selection.devices[0])
    log.info("engine runs on %s (%s)", device.describe(), selection.reason)
    return device


RELEASE_AFTER_TILES = 8
"""ncnn's pools grow with every tile; once a row ends this many tiles after the last
release, they are emptied. Small images (few tiles) never pay for refilling them."""


class _PoolKeeper:
    def __init__(self, network: Network) -> None:
        self._network = network
        self._tiles = 0

    def tile_done(self) -> None:
        self._tiles += 1

    def row_done(self) -> None:
        if self._tiles >= RELEASE_AFTER_TILES:
            self._network.release()
            self._tiles = 0


def _chain(first: Callable[[], None], then: Callable[[], None] | None) -> Callable[[], None]:
    if then is None:
        return first

    def both() -> None:
        first()
        then()

    return both


def _to_float(pixels: npt.NDArray[Any]) -> FloatImage:
    limit = np.float32(np.iinfo(pixels.dtype).max)
    return pixels.astype(np.float32) / limit


def _from_float(values: FloatImage, dtype: np.dtype[Any]) -> Pixels:
    limit = np.iinfo(dtype).max
    samples: Pixels = np.clip(np.rint(values * limit), 0, limit).astype(dtype)
    return samples
