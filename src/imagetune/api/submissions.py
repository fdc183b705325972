"""Submissions: POST /public/v1/image-tune/upscale's work, as Polls is the poll's.

A submission is admitted (quotas) before its body is read, then hashed once (for its
Idempotency-Key and for result reuse), inspected in an isolated process while its
original is written to storage, and recorded as a job: a new one, or one that shares the
results of the user's same earlier request. The original stays in storage only when a
job of this request uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from imagetune import logs
from imagetune.api.inspection import Inspector, check_request
from imagetune.api.quotas import Quotas
from imagetune.api.webhooks import checked_webhook
from imagetune.engine.animation import DEFAULT_MAX_OUTPUT_PIXELS
from imagetune.errors import TryLater
from imagetune.jobs.idempotency import IdempotencyKeys
from imagetune.jobs.models import JobOptions, NewJob, Scale
from imagetune.jobs.reuse import fingerprint
from imagetune.jobs.store import JobStore
from imagetune.storage.base import Storage
from imagetune.webhooks.addresses import Policy


@dataclass(frozen=True)
class Submission:
    """The upscale form, validated."""

    image: BinaryIO
    scale: Scale
    options: JobOptions
    webhook: str | None = None
    webhook_events_filter: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Submitted:
    job_id: uuid.UUID
    replayed: bool = False
    """The job is an earlier request's, which had the same Idempotency-Key: nothing new was
    created."""


class Submissions:
    def __init__(
        self,
        jobs: JobStore,
        storage: Storage,
        inspector: Inspector,
        keys: IdempotencyKeys,
        quotas: Quotas,
        *,
        webhook_policy: Policy,
        result_reuse: bool,
        max_animation_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS,
    ) -> None:
        self._jobs = jobs
        self._storage = storage
        self._inspector = inspector
        self._keys = keys
        self._quotas = quotas
        self._webhook_policy = webhook_policy
        self._result_reuse = result_reuse
        self._max_animation_output_pixels = max_animation_output_pixels

    def admit(self, user_id: int, idempotency_key: str | None) -> dict[str, str]:
        """``quotas.admit``, before the body is read, except for a request that repeats an
        earlier one's key: it creates no job, so it is no new job to the quotas (nor a
        rate-limit token). Headers for the answer."""
        if self._keys.is_replay(user_id, idempotency_key):
            return {}
        try:
            return self._quotas.admit(user_id)
        except TryLater:
            # A concurrent copy of this request may have created its job since the look-up,
            # and that job may be what filled the cap: then this request is a replay.
            if self._keys.is_replay(user_id, idempotency_key):
                return {}
            raise

    def submit(self, user_id: int, submission: Submission) -> Submitted:
        """Create the job ``submission`` asks for (or find the one its key created)."""
        hook = checked_webhook(
            self._webhook_policy, submission.webhook, submission.webhook_events_filter
        )
        data = submission.image.read()
        fields = {"scale": submission.scale.value, **submission.options.to_json()}
        if hook is not None:
            fields |= {"webhook": hook.url, "webhook_events_filter": hook.events}
        upload_digest = hashlib.sha256(data).digest()  # once: the idempotency hash and reuse's
        claim = self._keys.claim(user_id, submission.idempotency_key, upload_digest, fields)
        if (replayed := claim.replayed()) is not None:
            return Submitted(replayed, replayed=True)
        job_id = uuid.uuid4()
        original_key = f"originals/{job_id}"
        # Refuse what a worker could not decode (in an isolated process: a hostile file must
        # not hurt the API). The original is written to storage meanwhile, the decode and
        # the write's fsync overlapping.
        inspection = self._inspector.start(data)
        try:
            self._storage.write(original_key, data)
        except BaseException:
            # The inspector process is free again only once its answer is collected.
            with contextlib.suppress(Exception):
                inspection.result()
            raise
        try:
            checked = inspection.result()
            # What the engine would refuse for this image (an animation into JPEG, or
            # past its output pixels) is refused now, before a job exists.
            check_request(
                checked,
                submission.scale.pixels,
                submission.options.output_format,
                self._max_animation_output_pixels,
            )
            frame_pixels = submission.scale.output_pixels(checked.width, checked.height)
            job = NewJob(
                id=job_id,
                user_id=user_id,
                scale=submission.scale,
                original_key=original_key,
                options=submission.options,
                request_id=logs.request_id.get(),
                webhook_url=hook.url if hook else None,
                webhook_events=hook.events if hook else "",
                fingerprint=fingerprint(upload_digest, submission.scale, submission.options),
                # An animation's frames are each upscaled: usage counts them all.
                input_pixels=checked.pixels * checked.frames,
                output_pixels=frame_pixels * checked.frames,
            )
            outcome = claim.create(self._record, job)
        except BaseException:
            self._storage.delete(original_key)  # refused, or no job was recorded
            raise
        if isinstance(outcome, uuid.UUID):  # a concurrent request with the same key came first
            self._storage.delete(original_key)
            return Submitted(outcome, replayed=True)
        if outcome:  # reused: the job uses the earlier request's original
            self._storage.delete(original_key)
        return Submitted(job_id)

    def _record(self, job: NewJob) -> bool:
        """Record ``job``; True when it was the user's same request, done before, so that
        the new job shares its results (and its original) at once."""
        reused = self._result_reuse and self._jobs.create_reusing(job)
        if not reused:
            self._jobs.create(job)
        return reused
