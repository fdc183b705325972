"""Users and their API keys: creation, listing, deletion, revocation, authentication.

A key is shown once at creation and stored only as its SHA-256 hash together with a short
display prefix. Keys carry 256 bits of randomness, so a fast hash is the right tool (a
password hash would only slow every request down); lookups go by prefix and the hash is
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from imagetune.clock import utcnow
from imagetune.db.models import ApiKey, User
from imagetune.errors import AccountError, InvalidApiKey, UserNotFound

KEY_SCHEME = "itk_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8


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


@dataclass(frozen=True)
class CreatedKey:
    key: str
    prefix: str
    user: str


class Accounts:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create_user(self, name: str) -> UserInfo:
        name = name.strip()
        if not name or len(name) > 64:
            raise AccountError("a user name is 1 to 64 characters")
        with self._sessions.begin() as session:
            user = User(name=name)
            session.add(user)
            try:
                session.flush()
            except IntegrityError as e:
                raise AccountError(f"user {name!r} already exists") from e
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
            session.add(ApiKey(user_id=user.id, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key)))
        return CreatedKey(key=key, prefix=key[:PREFIX_LENGTH], user=user_name)

    def list_keys(self, user_name: str) -> list[KeyInfo]:
        with self._sessions() as session:
            user = self._active_user(session, user_name)
            keys = session.scalars(
                select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at)
            ).all()
            return [KeyInfo(k.prefix, k.created_at, k.revoked_at) for k in keys]

    def revoke_key(self, key_or_prefix: str) -> str:
        """Revoke the key given in full or by its unique display prefix; returns the prefix."""
        with self._sessions.begin() as session:
            if len(key_or_prefix) > PREFIX_LENGTH:
                query = select(ApiKey).where(ApiKey.key_hash == hash_key(key_or_prefix))
            else:
                query = select(ApiKey).where(ApiKey.prefix == key_or_prefix)
            matches = session.scalars(query.where(ApiKey.revoked_at.is_(None))).all()
            if not matches:
                raise AccountError(f"no active key matches {key_or_prefix!r}")
            if len(matches) > 1:
                raise AccountError(f"{key_or_prefix!r} matches {len(matches)} keys; give it whole")
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
                select(ApiKey.key_hash, ApiKey.revoked_at, User.id, User.deleted_at)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == key[:PREFIX_LENGTH])
            ).all()
        for key_hash, revoked_at, user_id, deleted_at in rows:
            if hmac.compare_digest(key_hash, presented):
                if revoked_at is not None:
                    raise InvalidApiKey()
                if deleted_at is not None:
                    raise UserNotFound()
                return int(user_id)
        raise InvalidApiKey()

    @staticmethod
    def _active_user(session: Session, name: str) -> User:
        user = session.scalars(
            select(User).where(User.name == name, User.deleted_at.is_(None))
        ).one_or_none()
        if user is None:
            raise AccountError(f"no user named {name!r}")
        return user
