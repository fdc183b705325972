from __future__ import annotations

import logging

import numpy as np
import pytest

from imagetune.engine.errors import OutOfMemory
from imagetune.engine.networks import NETWORKS
from imagetune.engine.runtime import FloatImage, InferenceFailed, Network
from imagetune.engine.tiling import count_tiles, store, tile_grid, upscale_tiled
from tests.engine.conftest import photo


@pytest.fixture(scope="module")
def span_x4() -> Network:
    return Network(NETWORKS["span-x4"], threads=1, use_gpu=False)


@pytest.fixture(scope="module")
def real_photo() -> FloatImage:
    return np.asarray(photo((200, 150), "astronaut"), dtype=np.float32) / 255


def test_tiled_output_matches_untiled(span_x4: Network, real_photo: FloatImage) -> None:
    untiled = np.clip(span_x4.run(real_photo), 0, 1) * 255
    out = np.empty((600, 800, 3), np.float32)
    upscale_tiled(real_photo, span_x4.run, scale=4, tile=64, overlap=8, out=out)
    diff = np.abs(out * 255 - untiled)
    assert diff.mean() < 0.05
    assert diff.max() < 6
    # Without overlap the seams are plainly there: the test can tell.
    seamy = np.empty_like(out)
    upscale_tiled(real_photo, span_x4.run, scale=4, tile=64, overlap=0, out=seamy)
    assert np.abs(seamy * 255 - untiled).max() > 20


def test_failed_tiles_are_retried_smaller(
    span_x4: Network, real_photo: FloatImage, caplog: pytest.LogCaptureFixture
) -> None:
    # Fault injection around the real network: tiles above 70x70 input "run out of memory".
    def limited(tile: FloatImage) -> FloatImage:
        if tile.shape[0] * tile.shape[1] > 70 * 70:
            raise InferenceFailed("ncnn returned -100")
        return span_x4.run(tile)

    out = np.empty((600, 800, 3), np.uint8)
    with caplog.at_level(logging.WARNING):
        upscale_tiled(real_photo, limited, scale=4, tile=100, overlap=8, out=out)
    assert "retrying in smaller tiles" in caplog.text
    reference = np.clip(span_x4.run(real_photo), 0, 1) * 255
    assert np.abs(out.astype(np.float32) - reference).mean() < 0.6


def test_gives_up_below_the_smallest_tile(real_photo: FloatImage) -> None:
    def always_fails(tile: FloatImage) -> FloatImage:
        raise InferenceFailed("no memory at all")

    with pytest.raises(OutOfMemory):
        upscale_tiled(
            real_photo, always_fails, scale=4, tile=64, overlap=8,
            out=np.empty((600, 800, 3), np.uint8),
        )  # fmt: skip


def test_grid_covers_every_pixel_once() -> None:
    covered = np.zeros((37, 53), int)
    for top, left, h, w in tile_grid(37, 53, 16):
        covered[top : top + h, left : left + w] += 1
    assert (covered == 1).all()
    assert count_tiles(37, 53, 16) == len(list(tile_grid(37, 53, 16))) == 12


def test_store_quantises_with_rounding() -> None:
    values = np.array([[[-0.1, 0.5, 1.2]]], np.float32)
    target8 = np.empty((1, 1, 3), np.uint8)
    store(values, target8)
    assert target8.tolist() == [[[0, 128, 255]]]
    target16 = np.empty((1, 1, 3), np.uint16)
    store(values, target16)
    assert target16.tolist() == [[[0, 32768, 65535]]]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_store_of_a_planar_network_output_matches_the_interleaved_samples(dtype: type) -> None:
    # As ncnn gives it: channel planes, seen as H x W x C, written into part of a canvas.
    rng = np.random.default_rng(5)
    planar = rng.random((3, 40, 50), dtype=np.float32) * 1.2 - 0.1
    view = planar.transpose(1, 2, 0)[3:37, 2:47]
    canvas = np.zeros((60, 80, 3), dtype)
    store(view, canvas[10:44, 20:65])
    expected = np.empty((34, 45, 3), dtype)
    store(np.ascontiguousarray(view), expected)  # interleaved: the plain numpy path
    assert expected.min() == 0
    assert expected.max() == np.iinfo(dtype).max
    assert np.array_equal(canvas[10:44, 20:65], expected)
    assert not canvas[:10].any()
    assert not canvas[44:].any()
    assert not canvas[:, :20].any()
    assert not canvas[:, 65:].any()


def test_on_row_runs_after_each_row_of_tiles(real_photo: FloatImage) -> None:
    events: list[str] = []

    def identity_x1(tile: FloatImage) -> FloatImage:
        events.append("tile")
        return tile

    upscale_tiled(
        real_photo,
        identity_x1,
        scale=1,
        tile=64,
        overlap=4,
        out=np.empty_like(real_photo),
        on_row=lambda: events.append("row"),
    )
    # 200x150 in 64 px tiles: 3 rows of 4 tiles.
    assert events == (["tile"] * 4 + ["row"]) * 3


@pytest.mark.parametrize(
    ("height", "width", "tile"), [(37, 53, 16), (37, 53, 64), (9, 7, 64), (1, 5, 64)]
)
def test_even_regions_cover_odd_images_exactly(height: int, width: int, tile: int) -> None:
    # ncnn's Vulkan path needs even-sided inputs: every region the runner sees is even
    # (made of real pixels) and the result is still exact.
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    shapes: list[tuple[int, int]] = []

    def identity_x1(region: FloatImage) -> FloatImage:
        shapes.append(region.shape[:2])
        return region

    out = np.empty_like(image)
    upscale_tiled(image, identity_x1, scale=1, tile=tile, overlap=4, out=out, even=True)
    assert np.array_equal(out, image)
    evenable = [(h, w) for h, w in shapes if h % 2 == 0 and w % 2 == 0]
    if height > 1 and width > 1:
        assert evenable == shapes, shapes
    else:  # a one-pixel side cannot be made even from real pixels: left to the runner
        assert all(w % 2 == 0 for _, w in shapes)
