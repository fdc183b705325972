"""Idempotent submissions: the same ``Idempotency-Key`` from the same user, the same job.

A key is remembered for the retention period (``IMAGETUNE_RETENTION_SECONDS``) after its
first request. Its row is inserted in the transaction that creates the job (``remember``,
called by JobStore), and (user, key) is that row's primary key, so the database lets one
job through however many requests race, in one API process or several. This module is
the only one that reads or writes those rows; the HTTP header is imagetune.api's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import Clock, utcnow
from imagetune.db.models import IdempotencyKey
from imagetune.errors import ImagetuneError
from imagetune.jobs.models import NewJob

MAX_KEY_LENGTH = 255

T = TypeVar("T")


class IdempotencyKeyReused(ImagetuneError):
    status_code = 422
    detail = "Idempotency-Key was already used for a different request"


def request_hash(upload_digest: bytes, fields: Mapping[str, str]) -> str:
    """SHA-256 over the upload's SHA-256 and every form field (as validated, defaults filled
    in, so a retry that spells out a default is the same request)."""
    digest = hashlib.sha256(upload_digest)
    digest.update(json.dumps(dict(sorted(fields.items()))).encode())
    return digest.hexdigest()


def valid_key(key: str | None) -> bool:
    return (
        key is not None
        and 0 < len(key) <= MAX_KEY_LENGTH
        and all(0x20 <= ord(c) <= 0x7E for c in key)
    )


class IdempotencyKeys:
    """The keys users sent with their submissions, in the database."""

    def __init__(
        self, sessions: sessionmaker[Session], ttl: timedelta, clock: Clock = utcnow
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._clock = clock

    def find(self, user_id: int, key: str) -> IdempotencyKey | None:
        """The live record of ``key``, or None (never used, or expired)."""
        with self._sessions() as session:
            return session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.user_id == user_id,
                    IdempotencyKey.key == key,
                    IdempotencyKey.created_at > self._clock() - self._ttl,
                )
            )

    def is_replay(self, user_id: int, key: str | None) -> bool:
        """Whether a request with ``key`` repeats an earlier one (quotas then do not apply:
        it creates nothing)."""
        return valid_key(key) and self.find(user_id, key or "") is not None

    def forget_expired(self, user_id: int, key: str) -> None:
        """Drop ``key``'s record once it has outlived the retention period, so the key can
        create a new job."""
        with self._sessions.begin() as session:
            session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.user_id == user_id,
                    IdempotencyKey.key == key,
                    IdempotencyKey.created_at <= self._clock() - self._ttl,
                )
            )

    def claim(
        self, user_id: int, key: str | None, upload_digest: bytes, fields: Mapping[str, str]
    ) -> Claim:
        """``upload_digest``: the upload's SHA-256, hashed once per request for this and for
        result reuse's fingerprint."""
        return Claim(self, user_id, key, request_hash(upload_digest, fields) if key else None)


@dataclass(frozen=True)
class Claim:
    """One submission's use of its key (or of none)."""

    keys: IdempotencyKeys
    user_id: int
    key: str | None
    request_hash: str | None

    def replayed(self) -> uuid.UUID | None:
        """The job this key already created, or None when the request is new.

        Raises IdempotencyKeyReused (422) when the key came with a different request.
        """
        if self.key is None:
            return None
        record = self.keys.find(self.user_id, self.key)
        if record is None:
            self.keys.forget_expired(self.user_id, self.key)
            return None
        if record.request_hash != self.request_hash:
            raise IdempotencyKeyReused()
        return record.job_id

    def create(self, create: Callable[[NewJob], T], job: NewJob) -> T | uuid.UUID:
        """``create(job)`` under this key (it must record the job with ``remember``, in
        the job's transaction): what it returned, or the id of the job a concurrent
        request with the same key created first (nothing is created then)."""
        if self.key is None:
            return create(job)
        try:
            return create(
                dataclasses.replace(job, idempotency_key=self.key, request_hash=self.request_hash)
            )
        except IntegrityError:
            replayed = self.replayed()
            if replayed is None:
                raise
            return replayed


def remember(session: Session, job: NewJob, now: datetime) -> None:
    """Record ``job``'s key, if it came with one, in the transaction creating the job
    (after the job's row: its foreign key). A second job for the same (user, key) fails
    on this row's primary key and the whole transaction rolls back."""
    if job.idempotency_key is None:
        return
    session.add(
        IdempotencyKey(
            user_id=job.user_id,
            key=job.idempotency_key,
            request_hash=job.request_hash or "",
            job_id=job.id,
            created_at=now,
        )
    )
    session.flush()
