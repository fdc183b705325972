from __future__ import annotations

import numpy as np

from imagetune.engine.alpha import bleed


def test_transparent_pixels_take_the_nearest_visible_colour() -> None:
    color = np.zeros((9, 9, 3), np.float32)
    alpha = np.zeros((9, 9), np.float32)
    color[:, :3] = [1.0, 0.0, 0.0]
    alpha[:, :3] = 1.0
    color[:, 6:] = [0.0, 0.0, 1.0]
    alpha[:, 6:] = 1.0
    filled = bleed(color, alpha)
    assert np.array_equal(filled[:, :3], color[:, :3])  # visible pixels untouched
    assert np.array_equal(filled[:, 6:], color[:, 6:])
    assert filled[4, 3, 0] > 0.5  # next to red: reddish, not black
    assert filled[4, 5, 2] > 0.5  # next to blue: bluish
    assert filled.sum(axis=2).min() > 0.9


def test_all_opaque_or_all_transparent_is_unchanged() -> None:
    color = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    assert bleed(color, np.ones((5, 7), np.float32)) is color
    assert bleed(color, np.zeros((5, 7), np.float32)) is color
