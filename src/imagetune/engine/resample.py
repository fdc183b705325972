"""Classical resampling to an exact size (Lanczos; antialiased when shrinking).

Pillow resamples in two separable passes, each in C with the GIL released: first along
rows (every output row from one input row), then along columns (every output column
from one intermediate column). With ``threads`` > 1 each pass is split across threads,
rows for the first and columns for the second, so every thread computes exactly the
pixels Pillow computes alone (the same filters, the same 8-bit intermediate): the result
is identical, and on two cores a 4K resize takes about 0.6 of the time
(bench/engine_speed.py). Splitting the output into bands through Pillow's ``box``
instead changes about one pixel in seven by a level or two.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

_MODES = {1: "L", 3: "RGB"}
LANCZOS = Image.Resampling.LANCZOS
MIN_SPLIT_PIXELS = 1 << 20
"""A resize whose input and output are both smaller runs on one thread."""

Plane = npt.NDArray[Any]
"""What one Pillow image holds: H x W x C uint8 (C in _MODES) or H x W float32."""
Size = tuple[int, int]


def resize(pixels: npt.NDArray[Any], size: tuple[int, int], threads: int = 1) -> npt.NDArray[Any]:
    """``pixels`` (H x W x C) resized to ``size`` = (width, height), same dtype.

    8-bit gray and RGB use Pillow's native resampler; deeper or float samples go
    channel by channel through 32-bit float, so nothing is rounded to 8 bits.
    """
    height, width = pixels.shape[:2]
    if (width, height) == size:
        return pixels
    if (
        threads > 1
        and pixels.dtype == np.uint8
        and max(width * height, size[0] * size[1]) >= MIN_SPLIT_PIXELS
    ):
        with ThreadPoolExecutor(threads - 1) as pool:
            return _resize(pixels, size, partial(_split_passes, pool=pool, threads=threads))
    return _resize(pixels, size, _pillow)


def _resize(
    pixels: npt.NDArray[Any], size: tuple[int, int], resize_plane: Callable[[Plane, Size], Plane]
) -> npt.NDArray[Any]:
    channels = pixels.shape[2]
    if pixels.dtype == np.uint8 and channels in _MODES:
        out = resize_plane(pixels[:, :, 0] if channels == 1 else pixels, size)
        return out[:, :, None] if channels == 1 else out
    planes = [
        resize_plane(np.ascontiguousarray(pixels[:, :, c], dtype=np.float32), size)
        for c in range(channels)
    ]
    stacked = np.stack(planes, axis=-1)
    if np.issubdtype(pixels.dtype, np.integer):
        limit = np.iinfo(pixels.dtype).max
        rounded: npt.NDArray[Any] = np.clip(np.rint(stacked), 0, limit).astype(pixels.dtype)
        return rounded
    return stacked.astype(pixels.dtype)


def _split_passes(plane: Plane, size: Size, *, pool: ThreadPoolExecutor, threads: int) -> Plane:
    """Pillow's two passes, each split across ``threads``: the pixels of _pillow."""
    width, height = size
    rows, rest = plane.shape[0], plane.shape[2:]
    columns = list(pairwise([width * i // threads for i in range(threads + 1)]))
    # The first pass's result, kept as one contiguous block per column band: each is
    # the second pass's input as it is, with no copy.
    across: list[Plane | None] = [np.empty((rows, b - a, *rest), plane.dtype) for a, b in columns]
    out = np.empty((height, width, *rest), plane.dtype)

    def along_rows(start: int, stop: int) -> None:  # input rows, every output column
        resized = _pillow(plane[start:stop], (width, stop - start))
        for (a, b), block in zip(columns, across, strict=True):
            assert block is not None
            block[start:stop] = resized[:, a:b]

    def along_columns(index: int) -> None:  # output columns, every output row
        block, (a, b) = across[index], columns[index]
        assert block is not None
        across[index] = None  # freed as soon as its columns are done
        out[:, a:b] = _pillow(block, (b - a, height))

    row_edges = [rows * i // threads for i in range(threads + 1)]
    _share(pool, [partial(along_rows, a, b) for a, b in pairwise(row_edges) if b > a])
    _share(pool, [partial(along_columns, i) for i, (a, b) in enumerate(columns) if b > a])
    return out


def _share(pool: ThreadPoolExecutor, parts: list[Callable[[], None]]) -> None:
    """Runs the first part on this thread and the others on the pool's: one thread fewer
    to start, and one fewer malloc arena holding what it freed (memory measured by
    bench/engine_speed.py)."""
    futures = [pool.submit(part) for part in parts[1:]]
    try:
        if parts:
            parts[0]()
    finally:
        for future in futures:
            future.result()


def _pillow(plane: Plane, size: Size) -> Plane:
    mode = "F" if plane.dtype == np.float32 else _MODES[1 if plane.ndim == 2 else plane.shape[2]]
    return np.asarray(Image.fromarray(plane, mode).resize(size, LANCZOS))
