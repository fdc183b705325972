"""Result sizes."""

from __future__ import annotations


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) whose longer side is ``long_side``, keeping the aspect ratio.

    The shorter side is rounded half up to the nearest pixel and is at least 1.
    """
    if width <= 0 or height <= 0 or long_side <= 0:
        raise ValueError(f"sizes must be positive: {width}x{height} -> {long_side}")
    if width >= height:
        return long_side, _scaled(height, long_side, width)
    return _scaled(width, long_side, height), long_side


def _scaled(short: int, long_side: int, long: int) -> int:
    # Integer arithmetic: exact half-up rounding, no float error on large sides.
    return max(1, (2 * short * long_side + long) // (2 * long))
