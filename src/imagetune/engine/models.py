"""The models a request can choose, and which network passes each one runs.

A model here is a recipe: ``photo`` runs a denoising upscaler instead of SPAN when the
file carries compression artefacts, because SPAN reproduces JPEG blocks faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imagetune.engine.compression import DENOISE_LEVELS, LOSSY_WEBP_LEVEL
from imagetune.engine.networks import NETWORKS, NetworkKind, NetworkSpec

DENOISE_USED = sorted({level for _, level in DENOISE_LEVELS} | {LOSSY_WEBP_LEVEL})


class ModelName(StrEnum):
    PHOTO = "photo"
    ENHANCE = "enhance"
    ANIME = "anime"
    CLASSIC = "classic"


DEFAULT_MODEL = ModelName.PHOTO


@dataclass(frozen=True)
class ModelInfo:
    name: ModelName
    kind: NetworkKind | None
    description: str
    networks: tuple[str, ...]

    @property
    def licenses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(NETWORKS[n].package.license for n in self.networks))


MODELS: dict[ModelName, ModelInfo] = {
    ModelName.PHOTO: ModelInfo(
        ModelName.PHOTO,
        NetworkKind.FAITHFUL,
        "Faithful photo upscaling (SPAN); a JPEG (up to quality 94) or lossy WebP goes "
        "through a denoising upscaler instead (waifu2x photo, its noise level chosen from the "
        "JPEG's quality), which removes the compression artefacts. The default.",
        ("span-x2", "span-x4", *(f"waifu2x-photo-x2-denoise{level}" for level in DENOISE_USED)),
    ),
    ModelName.ENHANCE: ModelInfo(
        ModelName.ENHANCE,
        NetworkKind.GAN,
        "Strongest sharpening, invents fine texture (Real-ESRGAN x4plus); about 40x slower "
        "than photo on a CPU.",
        ("realesrgan-x4plus",),
    ),
    ModelName.ANIME: ModelInfo(
        ModelName.ANIME,
        NetworkKind.ILLUSTRATION,
        "Anime, drawings and flat-colour illustration (Real-ESRGAN animevideov3).",
        ("animevideov3-x2", "animevideov3-x4"),
    ),
    ModelName.CLASSIC: ModelInfo(
        ModelName.CLASSIC,
        None,
        "Lanczos resampling only: fastest, no network.",
        (),
    ),
}


def plan(model: ModelName, factor: float, denoise: int | None) -> list[NetworkSpec]:
    """The network passes for an upscale by ``factor`` (target / source long side).

    A factor of 1 or less only resamples. Above 4 there is still one pass: a second
    network pass measured no better than one pass plus Lanczos (bench/quality.py --x8)
    at four times the cost. Between 2 and 4 a clean photo takes the x4 pass and a
    downscale, 0.1-0.2 dB better than x2 plus an upscale (bench/quality.py --chains).
    A file with compression artefacts takes the denoising x2 pass alone, at the noise
    level ``denoise`` (imagetune.engine.compression.denoise_level), then Lanczos.
    """
    if model == ModelName.CLASSIC or factor <= 1:
        return []
    names: list[str]
    if model == ModelName.PHOTO:
        if denoise is not None:
            # After the denoiser's x2, SPAN x2 measured no better than Lanczos (+0.63 vs
            # +0.62 dB at x4 on JPEG-75; bench/quality.py --chains) at five times the time.
            names = [f"waifu2x-photo-x2-denoise{denoise}"]
        else:
            names = ["span-x2" if factor <= 2 else "span-x4"]
    elif model == ModelName.ANIME:
        names = ["animevideov3-x2" if factor <= 2 else "animevideov3-x4"]
    else:
        names = ["realesrgan-x4plus"]
    return [NETWORKS[name] for name in names]
