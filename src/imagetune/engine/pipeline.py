"""The super-resolution processor: decode, network passes in tiles, exact resize, encode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from imagetune.engine.alpha import bleed, settle_alpha
from imagetune.engine.base import Device, ProcessedImage, ProcessRequest, ProgressCallback
from imagetune.engine.decode import DecodedImage, Pixels, decode
from imagetune.engine.encode import OutputFormat, encode
from imagetune.engine.models import ModelName, plan
from imagetune.engine.networks import NetworkSpec
from imagetune.engine.resample import resize
from imagetune.engine.runtime import FloatImage, Network, gpu_available
from imagetune.engine.sizing import target_size
from imagetune.engine.tiling import count_tiles, upscale_tiled

log = logging.getLogger(__name__)

CPU_TILE = 240
"""Core tile side on the CPU: tiles up to ~340 px run fastest per pixel on a 2-core x86
machine (bench/engine_speed.py), and 240 + 2 x 8 overlap keeps the overlap cost low."""
GPU_TILE = 512


@dataclass(frozen=True)
class EngineConfig:
    threads: int = 1
    device: Device = Device.AUTO
    tile: int | None = None
    """Core tile side in input pixels; None picks CPU_TILE or GPU_TILE."""


class Upscaler:
    """Implements Processor. Networks are loaded on first use and kept for reuse."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.use_gpu = config.device is not Device.CPU and gpu_available()
        if config.device is Device.GPU and not self.use_gpu:
            log.warning("a GPU was requested but ncnn sees none; running on the CPU")
        self.tile = config.tile or (GPU_TILE if self.use_gpu else CPU_TILE)
        self._networks: dict[str, Network] = {}

    def network(self, spec: NetworkSpec) -> Network:
        if spec.name not in self._networks:
            self._networks[spec.name] = Network(
                spec, threads=self.config.threads, use_gpu=self.use_gpu
            )
        return self._networks[spec.name]

    def process(
        self, data: bytes, request: ProcessRequest, progress: ProgressCallback | None = None
    ) -> ProcessedImage:
        decoded = decode(data)
        model = ModelName(request.model)
        passes = self.plan(decoded, request.long_side, model)
        # Every tile of every pass, plus one step for the final resize and encode.
        total = _count_tiles(decoded.pixels.shape, passes, self.tile) + 1
        done = 0

        def tile_done() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total)

        pixels = self.upscale(decoded, request.long_side, model, on_tile=tile_done)
        result = encode(pixels, OutputFormat(request.output_format), decoded.icc_profile)
        if progress:
            progress(total, total)
        return result

    @staticmethod
    def plan(decoded: DecodedImage, long_side: int, model: ModelName) -> list[NetworkSpec]:
        return plan(model, long_side / max(decoded.width, decoded.height), decoded.lossy)

    def upscale(
        self,
        decoded: DecodedImage,
        long_side: int,
        model: ModelName,
        on_tile: Callable[[], None] | None = None,
    ) -> Pixels:
        """The decoded pixels at exactly ``long_side``, through the model's passes."""
        pixels = decoded.pixels
        height, width, channels = pixels.shape
        size = target_size(width, height, long_side)
        passes = self.plan(decoded, long_side, model)
        color_channels = 1 if channels <= 2 else 3
        color, alpha = pixels[:, :, :color_channels], pixels[:, :, color_channels:]
        has_alpha = alpha.shape[2] > 0
        if has_alpha:
            color = _from_float(bleed(_to_float(color), _to_float(alpha)[:, :, 0]), color.dtype)
        if passes:
            color = self._run_passes(color, passes, on_tile)
        out = resize(color, size)
        if has_alpha:
            out = np.concatenate([out, settle_alpha(resize(alpha, size), alpha)], axis=2)
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
            upscale_tiled(
                current,
                self.network(spec).run,
                scale=spec.scale,
                tile=self.tile,
                overlap=spec.overlap,
                out=result,
                on_tile=on_tile,
            )
            if not last:
                current = result
        if gray:
            averaged = result.astype(np.float32).mean(axis=2, keepdims=True)
            gray_out: Pixels = np.rint(averaged).astype(color.dtype)
            return gray_out
        return result


def _count_tiles(shape: tuple[int, ...], passes: list[NetworkSpec], tile: int) -> int:
    height, width = shape[0], shape[1]
    total = 0
    for spec in passes:
        total += count_tiles(height, width, tile)
        height, width = height * spec.scale, width * spec.scale
    return total


def _to_float(pixels: npt.NDArray[Any]) -> FloatImage:
    limit = np.float32(np.iinfo(pixels.dtype).max)
    return pixels.astype(np.float32) / limit


def _from_float(values: FloatImage, dtype: np.dtype[Any]) -> Pixels:
    limit = np.iinfo(dtype).max
    samples: Pixels = np.clip(np.rint(values * limit), 0, limit).astype(dtype)
    return samples
