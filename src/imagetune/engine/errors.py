"""What the engine raises when it cannot finish, typed so callers never parse messages.

An upload that is not a supported, intact image raises ``imagetune.errors.InvalidImage``
(it is a client error wherever it happens); the failures below are the engine's own.
"""

from __future__ import annotations


class EngineError(Exception):
    """The engine could not produce a result; ``str(e)`` is for logs, not for clients."""


class OutOfMemory(EngineError):
    """A tile failed for lack of memory even at the smallest tile size."""


class TimedOut(EngineError):
    """Processing passed its deadline; checked between tiles and steps."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"processing passed its {limit:g} s deadline")
        self.limit = limit


class CannotAnimate(EngineError):
    """The requested output format holds no animation (JPEG, AVIF); ``str(e)`` says which
    formats do, for people."""


class AnimationTooLarge(EngineError):
    """All of an animation's result frames together pass the allowed pixels; ``str(e)``
    says by how much, for people."""
