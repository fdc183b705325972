from __future__ import annotations

import pytest

from imagetune.engine.sizing import target_size


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((300, 200), 1024, (1024, 683)),  # 682.67 rounds up
        ((200, 300), 1024, (683, 1024)),
        ((100, 100), 4096, (4096, 4096)),
        ((3, 2), 1024, (1024, 683)),
        ((2, 1), 1024, (1024, 512)),  # exact
        ((2048, 1), 1024, (1024, 1)),  # 0.5 rounds half up to 1
        ((4000, 16), 1024, (1024, 4)),
        ((16, 4000), 2048, (8, 2048)),
        ((100000, 1), 1024, (1024, 1)),  # never below 1
        ((1, 1), 2048, (2048, 2048)),
        ((8000, 6000), 1024, (1024, 768)),  # downscale
        ((4096, 4095), 4096, (4096, 4095)),
        ((300, 200), 2048, (2048, 1365)),
        ((200, 300), 2048, (1365, 2048)),
        ((300, 200), 4096, (4096, 2731)),
        ((200, 300), 4096, (2731, 4096)),
        ((250, 250), 1024, (1024, 1024)),
        ((1600, 900), 1024, (1024, 576)),  # larger originals are scaled down to it
        ((900, 1600), 1024, (576, 1024)),
        ((3000, 3000), 2048, (2048, 2048)),
        ((2500, 1200), 2048, (2048, 983)),
    ],
)
def test_target_size(size: tuple[int, int], long_side: int, expected: tuple[int, int]) -> None:
    assert target_size(*size, long_side) == expected


def test_half_rounds_up_not_to_even() -> None:
    # 5 * 1024 / 2048 = 2.5 -> 3 (banker's rounding would give 2)
    assert target_size(2048, 5, 1024) == (1024, 3)


@pytest.mark.parametrize("bad", [(0, 10, 1024), (10, 0, 1024), (10, 10, 0)])
def test_rejects_non_positive(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        target_size(*bad)
