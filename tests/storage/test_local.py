from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from imagetune.signing import UrlSigner
from imagetune.storage.base import StorageError, validate_key
from imagetune.storage.local import LocalStorage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        tmp_path, signer=UrlSigner(b"k" * 32), public_url="http://h:1/", route="/files/"
    )


def test_write_read_delete(storage: LocalStorage, tmp_path: Path) -> None:
    storage.write("results/a.png", b"abc")
    assert storage.read("results/a.png") == b"abc"
    assert storage.exists("results/a.png")
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["a.png"]  # no temp left
    storage.delete("results/a.png")
    storage.delete("results/a.png")
    assert not storage.exists("results/a.png")
    with pytest.raises(FileNotFoundError):
        storage.read("results/a.png")


def test_overwrite_is_atomic_replace(storage: LocalStorage) -> None:
    storage.write("k", b"old")
    storage.write("k", b"new")
    assert storage.read("k") == b"new"


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a/./b", ".hidden", "a/.tmp-1", "a\\b", "a\x00"]
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(StorageError):
        validate_key(key)


def test_url_is_absolute_signed_and_verifiable(storage: LocalStorage) -> None:
    url = storage.url("results/a.png", 60)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "h:1", "/files/results/a.png")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert storage.verify("results/a.png", int(query["expires"]), query["sig"])
    assert not storage.verify("results/b.png", int(query["expires"]), query["sig"])
