"""Users and their API keys: creation, listing, deletion, revocation, authentication.

A key is shown once at creation and stored only as its SHA-256 hash together with a short
display prefix. Keys carry 256 bits of randomness, so a fast hash is the right tool (a
password hash would only slow every request down); lookups go by prefix and the hash is
compared in constant time.

The CLI and the admin API (imagetune.api.admin) both work through Accounts, so they
agree: the same name rule, the same refusals (each its own AccountError).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import utcnow
from imagetune.db.models import ApiKey, User
from imagetune.errors import AccountError, InvalidApiKey, UserNotFound

log = logging.getLogger(__name__)

KEY_SCHEME = "itk_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8
USER_NAME_PATTERN = r"^[^\s/\x00-\x1f\x7f]([^/\x00-\x1f\x7f]{0,62}[^\s/\x00-\x1f\x7f])?$"
"""1 to 64 characters, no slash (names are path segments of the admin API), no control
characters, no white space at either end."""
LAST_USED_PRECISION = timedelta(minutes=1)
"""A key's ``last_used_at`` is written when it is older than this, not at every request:
authentication is a read, and a write per request would cost every poll."""


class UnknownUser(AccountError):
    pass


class DuplicateUser(AccountError):
    pass


class InvalidUserName(AccountError):
    pass


class UnknownKey(AccountError):
    pass


class AmbiguousKey(AccountError):
    pass


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_SCHEME + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    created_at: datetime
    active_keys: int


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class CreatedKey:
    key: str
    prefix: str
    user: str
    created_at: datetime


class Accounts:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create_user(self, name: str) -> UserInfo:
        name = name.strip()
        if not re.match(USER_NAME_PATTERN, name):
            raise InvalidUserName(
                "a user name is 1 to 64 characters, without slashes or control characters"
            )
        with self._sessions.begin() as session:
            user = User(name=name)
            session.add(user)
            try:
                session.flush()
            except IntegrityError as e:
                raise DuplicateUser(f"user {name!r} already exists") from e
            return UserInfo(user.id, user.name, user.created_at, 0)

    def list_users(self) -> list[UserInfo]:
        with self._sessions() as session:
            users = session.scalars(
                select(User).where(User.deleted_at.is_(None)).order_by(User.name)
            ).all()
            keys = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
            counts: dict[int, int] = {}
            for key in keys:
                counts[key.user_id] = counts.get(key.user_id, 0) + 1
            return [UserInfo(u.id, u.name, u.created_at, counts.get(u.id, 0)) for u in users]

    def delete_user(self, name: str) -> None:
        """Deactivate a user. Their keys stay on record so they answer "Not Found User"."""
        with self._sessions.begin() as session:
            user = self._active_user(session, name)
            user.deleted_at = utcnow()

    def create_key(self, user_name: str) -> CreatedKey:
        key = generate_key()
        with self._sessions.begin() as session:
            user = self._active_user(session, user_name)
            row = ApiKey(
                user_id=user.id,
                prefix=key[:PREFIX_LENGTH],
                key_hash=hash_key(key),
                created_at=utcnow(),
            )
            session.add(row)
        return CreatedKey(
            key=key, prefix=key[:PREFIX_LENGTH], user=user_name, created_at=row.created_at
        )

    def list_keys(self, user_name: str) -> list[KeyInfo]:
        with self._sessions() as session:
            user = self._active_user(session, user_name)
            keys = session.scalars(
                select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at)
            ).all()
            return [KeyInfo(k.prefix, k.created_at, k.revoked_at, k.last_used_at) for k in keys]

    def user_id(self, name: str) -> int:
        """The id of the active user called ``name``; UnknownUser otherwise."""
        with self._sessions() as session:
            return self._active_user(session, name).id

    def user_ids_named(self, name: str) -> list[int]:
        """Every user ever called ``name``, deleted ones too (their usage stays on record);
        UnknownUser when there was none."""
        with self._sessions() as session:
            ids = list(session.scalars(select(User.id).where(User.name == name)).all())
        if not ids:
            raise UnknownUser(f"no user named {name!r}")
        return ids

    def revoke_key(self, key_or_prefix: str) -> str:
        """Revoke the key given in full or by its unique display prefix; returns the prefix."""
        with self._sessions.begin() as session:
            if len(key_or_prefix) > PREFIX_LENGTH:
                query = select(ApiKey).where(ApiKey.key_hash == hash_key(key_or_prefix))
            else:
                query = select(ApiKey).where(ApiKey.prefix == key_or_prefix)
            matches = session.scalars(query.where(ApiKey.revoked_at.is_(None))).all()
            if not matches:
                raise UnknownKey(f"no active key matches {key_or_prefix!r}")
            if len(matches) > 1:
                raise AmbiguousKey(f"{key_or_prefix!r} matches {len(matches)} keys; give it whole")
            matches[0].revoked_at = utcnow()
            return matches[0].prefix

    def authenticate(self, key: str) -> int:
        """The id of the user owning ``key``.

        Raises InvalidApiKey for an unknown or revoked key, UserNotFound when the key is
        valid but its user has been deleted.
        """
        if not key.startswith(KEY_SCHEME) or len(key) <= PREFIX_LENGTH:
            raise InvalidApiKey()
        presented = hash_key(key)
        with self._sessions() as session:
            rows = session.execute(
                select(
                    ApiKey.key_hash,
                    ApiKey.revoked_at,
                    User.id,
                    User.deleted_at,
                    ApiKey.id,
                    ApiKey.last_used_at,
                )
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == key[:PREFIX_LENGTH])
            ).all()
        for key_hash, revoked_at, user_id, deleted_at, key_id, last_used_at in rows:
            if hmac.compare_digest(key_hash, presented):
                if revoked_at is not None:
                    raise InvalidApiKey()
                if deleted_at is not None:
                    raise UserNotFound()
                self._used(key_id, last_used_at)
                return int(user_id)
        raise InvalidApiKey()

    def _used(self, key_id: int, last_used_at: datetime | None) -> None:
        now = utcnow()
        if last_used_at is not None and now - last_used_at < LAST_USED_PRECISION:
            return
        try:
            with self._sessions.begin() as session:
                session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        except SQLAlchemyError as e:
            # A busy database delays the record of use, never the request itself.
            log.warning("could not record the use of a key: %s", type(e).__name__)

    @staticmethod
    def _active_user(session: Session, name: str) -> User:
        user = session.scalars(
            select(User).where(User.name == name, User.deleted_at.is_(None))
        ).one_or_none()
        if user is None:
            raise UnknownUser(f"no user named {name!r}")
        return user
