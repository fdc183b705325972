"""``imagetune webhooks secret USER [--rotate]``."""

from __future__ import annotations

import base64
from pathlib import Path

from imagetune.db.database import open_database
from imagetune.webhooks.secrets import WebhookSecrets
from tests.cli.invoke import imagetune
from tests.support import accounts_for


def test_secret_is_made_once_and_rotated(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    user = accounts_for(data_dir).create_user("alice")

    first = imagetune(data_dir, "webhooks", "secret", "alice").stdout.strip()
    again = imagetune(data_dir, "webhooks", "secret", "alice").stdout.strip()
    rotated = imagetune(data_dir, "webhooks", "secret", "alice", "--rotate").stdout.strip()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert again == first
    assert rotated.startswith("whsec_")
    assert rotated != first
    database = open_database(f"sqlite:///{data_dir / 'imagetune.db'}")
    # Both sign during the overlap, the new one first.
    assert WebhookSecrets(database.sessions).signing(user.id) == [rotated, first]
    database.close()


def test_unknown_user(tmp_path: Path) -> None:
    done = imagetune(tmp_path / "data", "webhooks", "secret", "nobody", check=False)

    assert done.exit_code == 1
    assert "no user named 'nobody'" in done.stderr
