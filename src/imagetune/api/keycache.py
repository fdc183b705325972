"""Recently authenticated keys, so most polls need no database read to authenticate.

Each API process keeps its own cache and nothing invalidates it: an entry simply stops
counting ``ttl`` seconds after the database said the key was good. A key revoked, or a
user deleted, in any process (or by the CLI) is therefore refused everywhere at most
``ttl`` seconds later, with no message between processes. Only successes are kept: an
unknown, revoked or orphaned key always reaches the database, so guessing keys cannot
fill the cache, and a refusal is never served from memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from imagetune.accounts import hash_key

KEY_CACHE_SECONDS = 1.0
"""How long a good key is trusted without asking the database again. The contract
allows at most 2 s between a revocation and its refusal on every process; 1 s leaves
room for a slow database read after the entry expires."""
KEY_CACHE_ENTRIES = 10_000


class KeyCache:
    def __init__(
        self,
        ttl: float = KEY_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[int, float]] = {}

    def user_id(self, key: str) -> int | None:
        """The user ``key`` belonged to less than ``ttl`` seconds ago; None if unknown."""
        entry = self._entries.get(hash_key(key))
        if entry is None or self._clock() - entry[1] >= self._ttl:
            return None
        return entry[0]

    def remember(self, key: str, user_id: int, checked_at: float) -> None:
        """Record that the database accepted ``key`` for ``user_id``; ``checked_at`` (a
        reading of the clock taken before the database was asked) starts its lifetime."""
        if len(self._entries) >= self._max_entries:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if now - v[1] < self._ttl}
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
        self._entries[hash_key(key)] = (user_id, checked_at)

    def now(self) -> float:
        return self._clock()
