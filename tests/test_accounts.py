from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from imagetune.accounts import Accounts, hash_key
from imagetune.db.models import ApiKey
from imagetune.errors import AccountError, InvalidApiKey, UserNotFound
from tests.factories import sessions_for


@pytest.fixture
def accounts(database_url: str) -> Accounts:
    return Accounts(sessions_for(database_url))


def test_key_is_stored_only_as_hash(tmp_path: Path) -> None:
    accounts = Accounts(sessions_for(f"sqlite:///{tmp_path / 'accounts.db'}"))
    accounts.create_user("alice")
    created = accounts.create_key("alice")
    raw = (tmp_path / "accounts.db").read_bytes()
    wal = tmp_path / "accounts.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert created.key.encode() not in raw
    assert hash_key(created.key).encode() in raw
    assert created.key.startswith(created.prefix)


def test_authenticate(accounts: Accounts) -> None:
    alice = accounts.create_user("alice")
    key = accounts.create_key("alice").key
    assert accounts.authenticate(key) == alice.id
    with pytest.raises(InvalidApiKey):
        accounts.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(InvalidApiKey):
        accounts.authenticate("itk_")


def test_revoke_by_prefix_or_whole_key(accounts: Accounts) -> None:
    accounts.create_user("alice")
    first, second = accounts.create_key("alice"), accounts.create_key("alice")
    assert accounts.revoke_key(first.prefix) == first.prefix
    assert accounts.revoke_key(second.key) == second.prefix
    for created in (first, second):
        with pytest.raises(InvalidApiKey):
            accounts.authenticate(created.key)
    with pytest.raises(AccountError, match="no active key"):
        accounts.revoke_key(first.prefix)
    assert [k.revoked_at is not None for k in accounts.list_keys("alice")] == [True, True]


def test_ambiguous_prefix_is_refused(accounts: Accounts) -> None:
    accounts.create_user("alice")
    created = accounts.create_key("alice")
    with accounts._sessions.begin() as session:  # a second key sharing the display prefix
        session.add(ApiKey(user_id=1, prefix=created.prefix, key_hash="0" * 64))
    with pytest.raises(AccountError, match="matches 2 keys"):
        accounts.revoke_key(created.prefix)
    with accounts._sessions() as session:
        assert session.scalars(select(ApiKey.revoked_at)).all() == [None, None]


def test_deleted_user_keys_say_user_not_found(accounts: Accounts) -> None:
    accounts.create_user("bob")
    key = accounts.create_key("bob").key
    accounts.delete_user("bob")
    with pytest.raises(UserNotFound):
        accounts.authenticate(key)
    assert accounts.list_users() == []
    with pytest.raises(AccountError):
        accounts.create_key("bob")


def test_name_can_be_reused_after_delete(accounts: Accounts) -> None:
    old = accounts.create_user("carol")
    old_key = accounts.create_key("carol").key
    accounts.delete_user("carol")
    new = accounts.create_user("carol")
    assert new.id != old.id
    with pytest.raises(UserNotFound):
        accounts.authenticate(old_key)


def test_duplicate_and_bad_names(accounts: Accounts) -> None:
    accounts.create_user("dave")
    with pytest.raises(AccountError, match="already exists"):
        accounts.create_user("dave")
    with pytest.raises(AccountError):
        accounts.create_user("   ")
    with pytest.raises(AccountError):
        accounts.create_user("x" * 65)
