"""Running a network over an image in overlapping tiles, so memory stays bounded.

Each tile is run with ``overlap`` pixels of context on every side, and only its core is
kept: the network never sees a tile edge where the output is kept, so no seam shows.
When a tile cannot be run (out of memory), it is split into four and retried; a tile
that fails at the smallest size raises OutOfMemory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from imagetune.engine.errors import OutOfMemory
from imagetune.engine.runtime import FloatImage, InferenceFailed

log = logging.getLogger(__name__)

MIN_TILE = 16

Runner = Callable[[FloatImage], FloatImage]


def tile_grid(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, left, height, width) of each core tile, row by row."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            yield top, left, min(tile, height - top), min(tile, width - left)


def count_tiles(height: int, width: int, tile: int) -> int:
    return (-(-height // tile)) * (-(-width // tile))


def upscale_tiled(
    image: FloatImage,
    run: Runner,
    *,
    scale: int,
    tile: int,
    overlap: int,
    out: npt.NDArray[Any],
    on_tile: Callable[[], None] | None = None,
    on_row: Callable[[], None] | None = None,
    even: bool = False,
) -> None:
    """Fill ``out`` (scale x the size of ``image``) with the network's output.

    ``out`` may be float32 (0..1, for another pass) or uint8/uint16 (final samples): each
    tile is quantised as it is written, so no full-size float copy ever exists.
    ``on_row`` runs after each row of tiles (the engine frees ncnn's pooled memory there).
    ``even``: every region ``run`` sees has even sides, grown by a row or column of real
    context, or split in two where it spans an odd side of the image (ncnn's Vulkan path
    needs it; see runtime.Network.run).
    """
    height, width = image.shape[:2]
    for top, left, h, w in tile_grid(height, width, tile):
        _run_block(image, run, scale, overlap, out, top, left, h, w, even)
        if on_tile:
            on_tile()
        if on_row and left + w == width:
            on_row()


def _run_block(
    image: FloatImage,
    run: Runner,
    scale: int,
    overlap: int,
    out: npt.NDArray[Any],
    top: int,
    left: int,
    h: int,
    w: int,
    even: bool = False,
) -> None:
    height, width = image.shape[:2]
    y0, x0 = max(0, top - overlap), max(0, left - overlap)
    y1, x1 = min(height, top + h + overlap), min(width, left + w + overlap)
    if even:
        y0, y1 = _even_span(y0, y1, height, (top, top + h))
        x0, x1 = _even_span(x0, x1, width, (left, left + w))
        # A core that is a whole odd side of the image: two halves, each then with context.
        halves = None
        if (y1 - y0) % 2 and h > 1:
            halves = [(top, left, h // 2, w), (top + h // 2, left, h - h // 2, w)]
        elif (x1 - x0) % 2 and w > 1:
            halves = [(top, left, h, w // 2), (top, left + w // 2, h, w - w // 2)]
        if halves:
            for sub_top, sub_left, sub_h, sub_w in halves:
                _run_block(image, run, scale, overlap, out, sub_top, sub_left, sub_h, sub_w, even)
            return
    try:
        result = run(np.ascontiguousarray(image[y0:y1, x0:x1]))
    except (InferenceFailed, MemoryError) as e:
        if max(h, w) <= MIN_TILE:
            raise OutOfMemory(f"a {w}x{h} tile failed: {e}") from e
        log.warning("tile %dx%d failed (%s); retrying in smaller tiles", w, h, e)
        half_h, half_w = max(1, -(-h // 2)), max(1, -(-w // 2))
        for sub_top, sub_left, sub_h, sub_w in tile_grid(h, w, max(half_h, half_w)):
            _run_block(
                image, run, scale, overlap, out, top + sub_top, left + sub_left, sub_h, sub_w, even
            )
        return
    core = result[
        (top - y0) * scale : (top - y0 + h) * scale, (left - x0) * scale : (left - x0 + w) * scale
    ]
    target = out[top * scale : (top + h) * scale, left * scale : (left + w) * scale]
    store(core, target)


def _even_span(start: int, stop: int, size: int, core: tuple[int, int]) -> tuple[int, int]:
    """[start, stop) made even-sized within [0, size) when it is odd: grown by a pixel of
    context, or, spanning the whole side, one pixel of context given up; as it is when
    it holds nothing but the core."""
    if (stop - start) % 2 == 0:
        return start, stop
    if stop < size:
        return start, stop + 1
    if start > 0:
        return start - 1, stop
    if start < core[0]:
        return start + 1, stop
    if stop > core[1]:
        return start, stop - 1
    return start, stop


def store(values: FloatImage, target: npt.NDArray[Any]) -> None:
    """Write 0..1 floats into ``target``, quantising to its integer type if it has one.

    ``values`` is usually a network's output as ncnn leaves it: planar (each channel a
    plane) seen through an H x W x C view. It is scaled into an interleaved buffer of
    its own, worked on in place and cast into ``target``: a fifth less time than
    letting numpy keep the planar order through the arithmetic (OpenCV's merge would
    halve it again, but importing OpenCV in every worker costs address space that
    IMAGETUNE_WORKER_MEMORY_MB counts).
    """
    if np.issubdtype(target.dtype, np.integer):
        limit = float(np.iinfo(target.dtype).max)
        scaled = np.empty(values.shape, values.dtype)
        np.multiply(values, limit, out=scaled)
        np.add(scaled, 0.5, out=scaled)
        np.clip(scaled, 0, limit, out=scaled)
        target[...] = scaled
    else:
        np.clip(values, 0.0, 1.0, out=target)
