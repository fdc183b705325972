"""Running one network with ncnn, on the CPU or a Vulkan GPU."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from imagetune.engine.networks import NetworkSpec

log = logging.getLogger(__name__)

FloatImage = npt.NDArray[Any]


class InferenceFailed(RuntimeError):
    """ncnn could not run a tile (typically out of memory); a smaller tile may work."""


def blob_names(param_file: Path) -> tuple[str, str]:
    """(input, output) blob names, read from the .param file rather than assumed.

    The input is the blob an ``Input`` layer produces; the output is the last layer's
    top blob that no later layer consumes.
    """
    lines = param_file.read_text().splitlines()[2:]
    produced: list[str] = []
    consumed: set[str] = set()
    inputs: list[str] = []
    for line in lines:
        fields = re.split(r"\s+", line.strip())
        if len(fields) < 4:
            continue
        kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        bottoms = fields[4 : 4 + n_in]
        tops = fields[4 + n_in : 4 + n_in + n_out]
        consumed.update(bottoms)
        produced.extend(tops)
        if kind == "Input":
            inputs.extend(tops)
    outputs = [blob for blob in produced if blob not in consumed]
    if len(inputs) != 1 or not outputs:
        raise ValueError(f"{param_file}: expected one input and an output blob")
    return inputs[0], outputs[-1]


class Network:
    """A loaded network. ``run`` takes and returns HxWx3 float32 RGB in 0..1 (what it
    returns is a view of ncnn's planar output)."""

    def __init__(
        self, spec: NetworkSpec, *, threads: int, use_gpu: bool, gpu_index: int = 0
    ) -> None:
        import ncnn

        self.spec = spec
        self.use_gpu = use_gpu
        param, weights = spec.files()
        self._input, self._output = blob_names(param)
        self._net = ncnn.Net()
        self._net.opt.use_vulkan_compute = use_gpu
        self._net.opt.num_threads = threads
        # Our own pools, so the memory they cache between tiles can be handed back after
        # a pass instead of staying resident while the full-size result is resampled.
        self._blob_pool = ncnn.UnlockedPoolAllocator()
        self._workspace_pool = ncnn.PoolAllocator()
        self._net.opt.blob_allocator = self._blob_pool
        self._net.opt.workspace_allocator = self._workspace_pool
        self._device_pools: list[Any] = []
        if use_gpu:
            # fp16 storage halves the device's memory traffic; fp16 arithmetic put SPAN x4
            # 10 levels of 255 away from the CPU path, fp32 arithmetic under 6 (lavapipe,
            # tests/engine/test_vulkan.py), as Real-ESRGAN's and waifu2x's ncnn ports choose.
            self._net.opt.use_fp16_arithmetic = False
            # The same on the device: without our own, ncnn's device-wide pools keep
            # what the largest tile needed for the life of the process.
            device = ncnn.get_gpu_device(gpu_index)
            self._net.set_vulkan_device(gpu_index)
            blobs, workspace = ncnn.VkBlobAllocator(device), ncnn.VkBlobAllocator(device)
            staging = ncnn.VkStagingAllocator(device)
            self._net.opt.blob_vkallocator = blobs
            self._net.opt.workspace_vkallocator = workspace
            self._net.opt.staging_vkallocator = staging
            self._device_pools = [blobs, workspace, staging]
        if self._net.load_param(str(param)) != 0 or self._net.load_model(str(weights)) != 0:
            raise RuntimeError(f"ncnn could not load {param}")
        self._lock = threading.Lock()
        log.info(
            "loaded network %s (%s, %d threads)",
            spec.name,
            f"GPU {gpu_index}" if use_gpu else "CPU",
            threads,
        )

    def run(self, tile: FloatImage) -> FloatImage:
        import ncnn

        pad = self.spec.pad
        height, width = tile.shape[:2]
        if pad:
            widths = ((pad, pad), (pad, pad), (0, 0))
            if min(tile.shape[:2]) > pad:
                tile = np.pad(tile, widths, mode="reflect")
            else:  # too small to reflect: repeat the edge
                tile = np.pad(tile, widths, mode="edge")
        if pad or self.use_gpu:
            # Through ncnn's Vulkan path (lavapipe, ncnn 1.0.20261020) every network gave
            # garbage, NaN even, where width x height is not a multiple of 4
            # (tests/engine/test_vulkan.py). The tiler hands the device even-sided regions
            # of real pixels; this edge row or column is the fallback for images too small
            # for that. For a network that consumes its border (waifu2x) it changes no kept
            # pixel at all, so the CPU gets it too.
            even = ((0, tile.shape[0] % 2), (0, tile.shape[1] % 2), (0, 0))
            tile = np.pad(tile, even, mode="edge")
        # ncnn.Mat borrows this buffer: it must stay referenced until extract returns.
        planar = np.ascontiguousarray(tile.transpose(2, 0, 1), dtype=np.float32)
        with self._lock:
            extractor = self._net.create_extractor()
            extractor.input(self._input, ncnn.Mat(planar))
            status, out = extractor.extract(self._output)
            if status != 0:
                raise InferenceFailed(f"{self.spec.name}: ncnn returned {status}")
            # A view of ncnn's output, not a copy: the array keeps the Mat (and so its
            # pooled memory) alive until the tiler has stored what it keeps of it.
            result = np.asarray(out)
        del planar
        scale = self.spec.scale
        if result.ndim != 3 or result.shape[1] < height * scale or result.shape[2] < width * scale:
            # A model/param mismatch, not a lack of memory: smaller tiles would not help.
            raise RuntimeError(f"{self.spec.name}: unexpected output shape {result.shape}")
        return result[:, : height * scale, : width * scale].transpose(1, 2, 0)

    def release(self) -> None:
        """Free the memory ncnn keeps pooled between runs, on the host and on the device
        (the weights stay loaded)."""
        with self._lock:
            self._blob_pool.clear()
            self._workspace_pool.clear()
            for pool in self._device_pools:
                pool.clear()
