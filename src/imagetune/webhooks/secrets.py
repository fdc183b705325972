"""Each user's webhook signing secret, in the database. Secrets are never logged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import utcnow
from imagetune.db.models import WebhookSecret
from imagetune.webhooks.signing import new_secret

ROTATION_OVERLAP = timedelta(hours=24)
"""How long the previous secret still signs after a rotation."""


class WebhookSecrets:
    def __init__(
        self, sessions: sessionmaker[Session], overlap: timedelta = ROTATION_OVERLAP
    ) -> None:
        self._sessions = sessions
        self._overlap = overlap

    def current(self, user_id: int) -> str:
        """The user's secret, created on first use."""
        with self._sessions() as session:
            row = session.get(WebhookSecret, user_id)
            if row is not None:
                return row.secret
        try:
            with self._sessions.begin() as session:
                secret = new_secret()
                session.add(WebhookSecret(user_id=user_id, secret=secret, created_at=utcnow()))
                return secret
        except IntegrityError:  # created at the same moment elsewhere: that one stands
            with self._sessions() as session:
                row = session.get(WebhookSecret, user_id)
                assert row is not None
                return row.secret

    def rotate(self, user_id: int) -> str:
        """A new secret; the previous one keeps signing for the overlap."""
        self.current(user_id)
        with self._sessions.begin() as session:
            row = session.get(WebhookSecret, user_id, with_for_update=True)
            assert row is not None
            row.previous_secret = row.secret
            row.previous_until = utcnow() + self._overlap
            row.secret = new_secret()
            row.created_at = utcnow()
            return row.secret

    def signing(self, user_id: int) -> list[str]:
        """The secrets that sign a message now: the current one, then the previous one
        while the rotation's overlap lasts."""
        current = self.current(user_id)
        with self._sessions() as session:
            row = session.get(WebhookSecret, user_id)
            assert row is not None
            if row.previous_secret and row.previous_until and row.previous_until > utcnow():
                return [current, row.previous_secret]
        return [current]
