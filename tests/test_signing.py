from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from imagetune.signing import UrlSigner, load_or_create_secret


def test_sign_and_verify() -> None:
    signer = UrlSigner(b"s" * 32)
    sig = signer.sign("/files/a.png", 2000)
    assert signer.verify("/files/a.png", 2000, sig, now=1999)
    assert not signer.verify("/files/a.png", 2000, sig, now=2001)
    assert not signer.verify("/files/b.png", 2000, sig, now=1999)
    assert not signer.verify("/files/a.png", 2001, sig, now=1999)
    assert not UrlSigner(b"t" * 32).verify("/files/a.png", 2000, sig, now=1999)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        UrlSigner(b"short")


def test_secret_is_created_once_private(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
