"""Recently authenticated keys, so most requests need no database read to authenticate.

Each API process keeps its own cache and nothing invalidates it: an entry simply stops
counting ``ttl`` seconds after the database was asked about the key. A key revoked, or a
user deleted, in any process (or by the CLI) is therefore refused everywhere at most
``ttl`` seconds (plus one database read) later, with no message between processes. Only
successes are kept: an unknown, revoked or orphaned key always reaches the database, so
guessing keys cannot fill the cache, and a refusal is never served from memory.

A key in steady use never waits for the database: once its entry is ``refresh_after``
seconds old, the next request starts a check in the background and is answered from
the entry meanwhile. Requests that do have to wait (a key not in the cache, or whose
entry ran out) share one check per key, so a burst of polls on one key costs one read,
not one each (profiling showed all sixteen connections of a poll load missing in the
same instant once a second, and queueing on the database readers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from imagetune.accounts import hash_key

KEY_CACHE_SECONDS = 1.0
"""How long a good key is trusted without asking the database again. The contract
allows at most 2 s between a revocation and its refusal on every process; 1 s leaves
room for a slow database read after the entry expires."""
KEY_REFRESH_SECONDS = 0.5
"""Age at which a key in use is checked again, in the background."""
KEY_CACHE_ENTRIES = 10_000

Check = Callable[[str], Awaitable[int]]
"""Asks the database: the key's user id; raises the refusal (InvalidApiKey, ...)."""


class KeyCache:
    def __init__(
        self,
        check: Check,
        ttl: float = KEY_CACHE_SECONDS,
        refresh_after: float = KEY_REFRESH_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._refresh_after = refresh_after
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[int, float]] = {}
        """Key hash -> (user id, when the database was asked)."""
        self._checks: dict[str, asyncio.Task[int]] = {}
        """Key hash -> the check running for it."""

    async def user_id(self, key: str) -> int:
        """The user ``key`` belongs to; raises what ``check`` raises for a refused key."""
        digest = hash_key(key)
        entry = self._entries.get(digest)
        if entry is not None:
            age = self._clock() - entry[1]
            if age < self._ttl:
                if age >= self._refresh_after and digest not in self._checks:
                    self._start(digest, key)
                return entry[0]
        running = self._checks.get(digest)
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            running = self._start(digest, key)
        # Shielded: a client that goes away does not cancel the others' answer.
        return await asyncio.shield(running)

    def _start(self, digest: str, key: str) -> asyncio.Task[int]:
        task = asyncio.ensure_future(self._checked(digest, key, self._clock()))
        self._checks[digest] = task
        task.add_done_callback(lambda done: self._ended(digest, done))
        return task

    async def _checked(self, digest: str, key: str, asked_at: float) -> int:
        try:
            user_id = await self._check(key)
        except BaseException:
            self._entries.pop(digest, None)  # nothing vouches for the key any more
            raise
        self._remember(digest, user_id, asked_at)
        return user_id

    def _ended(self, digest: str, task: asyncio.Task[int]) -> None:
        if self._checks.get(digest) is task:
            del self._checks[digest]
        if not task.cancelled():
            # Retrieved here: a background check's refusal reaches the key's next
            # request through the database, not the log as an unhandled error.
            task.exception()

    def _remember(self, digest: str, user_id: int, asked_at: float) -> None:
        if digest not in self._entries and len(self._entries) >= self._max_entries:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if now - v[1] < self._ttl}
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
        self._entries[digest] = (user_id, asked_at)
