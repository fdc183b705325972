"""What the engine raises when it cannot finish, typed so callers never parse messages.

The engine knows nothing of HTTP: imagetune.errors maps these to what an API client or a
job's ``error`` is told.
"""

from __future__ import annotations


class EngineError(Exception):
    """The engine could not produce a result; ``str(e)`` is for logs, not for clients."""


class UndecodableImage(EngineError):
    """The data is not a supported, intact image: the image's fault, not the engine's."""

    def __init__(self, reason: str, internal: str | None = None) -> None:
        # Both in ``args``: the exception is pickled back from the inspector's process.
        super().__init__(reason, internal)
        self.reason = reason
        """Why, in our words (never a decoder's): safe to show a client."""
        self.internal = internal
        """The decoder's own words, for the log only."""

    def __str__(self) -> str:
        return f"{self.reason} ({self.internal})" if self.internal else self.reason


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
