"""Repeated work for free: a user's repeated request reuses their earlier job's result.

A request is identified by its fingerprint: sha256 over the uploaded bytes, the scale,
every option that changes the result (JobOptions, all of them: every output format
included), the imagetune version and the engine's revision (an upgrade, or a change of
recipe within a version, may change the engine's output). When the same user sends a
request with the fingerprint of a job of theirs that has succeeded and whose files are
kept, the new job (its own id, its own URLs) is recorded as succeeded at once, pointing at
the same stored original and results: nothing is copied and the engine does not run.

Only ever within one user: another user's identical upload runs as usual, so timing
cannot tell anyone what others have uploaded.

Retention: jobs sharing files share their ``original_key``. The purger deletes a job's
files only when no unpurged job still references that original (imagetune.jobs.retention),
so the shared files live until the last job using them expires. A job is reused only
while its expiry is more than REUSE_MARGIN away, so the purger (which only takes jobs
already expired) can never be deleting files a new job is being pointed at.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagetune import __version__
from imagetune.db.models import Job
from imagetune.engine.base import ENGINE_REVISION
from imagetune.jobs.models import JobOptions, JobState, NewJob, Scale

REUSE_MARGIN = timedelta(minutes=1)


def fingerprint(upload_digest: bytes, scale: Scale, options: JobOptions) -> str:
    """Of an upscale request, from its upload's SHA-256: equal exactly when the result would
    be the same."""
    digest = hashlib.sha256()
    fields = sorted(options.to_json().items())
    header = f"imagetune {__version__}\nengine={ENGINE_REVISION}\nscale={scale.value}\n"
    header += "".join(f"{name}={value}\n" for name, value in fields)
    digest.update(header.encode())
    digest.update(upload_digest)
    return digest.hexdigest()


def reusable(session: Session, job: NewJob, now: datetime) -> tuple[str, list[str]] | None:
    """(original key, result keys) of the user's latest succeeded job with ``job``'s
    fingerprint whose files are kept (after ``now``), or None."""
    assert job.fingerprint is not None
    source = session.execute(
        select(Job.original_key, Job.result_keys)
        .where(
            Job.user_id == job.user_id,
            Job.fingerprint == job.fingerprint,
            Job.state == JobState.SUCCEEDED.value,
            Job.purged_at.is_(None),
            Job.expires_at > now + REUSE_MARGIN,
        )
        .order_by(Job.expires_at.desc())
        .limit(1)
    ).one_or_none()
    return None if source is None else (source.original_key, list(source.result_keys))
