"""Preparing colour under transparency so that upscaling leaves clean edges."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

FloatArray = npt.NDArray[Any]


def bleed(color: FloatArray, alpha: FloatArray) -> FloatArray:
    """Fill the colour of fully transparent pixels from the nearest visible ones.

    Transparent pixels often hold black; a resampler or network mixes that into visible
    edge pixels as a dark fringe. Pull-push: average the visible colour over an image
    pyramid, then fill every hole from the finest level that has colour for it.
    """
    visible = alpha > 0
    if visible.all() or not visible.any():
        return color
    weights = [visible.astype(np.float32)]
    sums = [color * weights[0][:, :, None]]
    while max(weights[-1].shape) > 1:
        weights.append(_halve(weights[-1][:, :, None])[:, :, 0])
        sums.append(_halve(sums[-1]))
    filled = sums[-1] / np.maximum(weights[-1], 1e-12)[:, :, None]
    for level in range(len(sums) - 2, -1, -1):
        weight = weights[level]
        mean = sums[level] / np.maximum(weight, 1e-12)[:, :, None]
        up = _double(filled, weight.shape)
        filled = np.where((weight > 0)[:, :, None], mean, up)
    return np.where(visible[:, :, None], color, filled).astype(np.float32)


def _halve(a: FloatArray) -> FloatArray:
    h, w = a.shape[:2]
    padded = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    blocks = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, -1)
    halved: FloatArray = blocks.sum(axis=(1, 3))
    return halved


def _double(a: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]


def settle_alpha(resized: npt.NDArray[Any], source: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``resized`` alpha, exactly transparent or opaque where the source is, a pixel around.

    Lanczos rings: near an edge it leaves faint alpha in fully transparent areas and dents
    in fully opaque ones. Only pixels next to the edge keep the resampler's soft values.
    """
    limit = np.iinfo(source.dtype).max
    settled = resized
    for value in (0, limit):
        interior = _interior(source[:, :, 0] == value)
        if not interior.any():
            continue
        mask = Image.fromarray(interior).resize(
            (resized.shape[1], resized.shape[0]), Image.Resampling.NEAREST
        )
        if settled is resized:
            settled = resized.copy()
        settled[np.asarray(mask)] = value
    return settled


def _interior(region: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels of ``region`` whose eight neighbours are in it too."""
    height, width = region.shape
    padded = np.pad(region, 1, mode="edge")
    interior = region.copy()
    for dy in range(3):
        for dx in range(3):
            interior &= padded[dy : dy + height, dx : dx + width]
    return interior
