from __future__ import annotations

from imagetune.hosting.pool import MAX_RESPAWN_DELAY, respawn_delay


def test_respawn_back_off_spares_a_single_crash_and_caps_a_crash_loop() -> None:
    # One death soon after start (a job that killed its worker): replaced at once.
    assert respawn_delay(0) == respawn_delay(1) == 0
    delays = [respawn_delay(n) for n in range(2, 12)]
    assert delays[:4] == [1, 2, 4, 8]
    assert delays == sorted(delays)
    assert max(delays) == MAX_RESPAWN_DELAY
