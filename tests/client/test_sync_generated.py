"""The blocking client is written from the async one (client/scripts/generate_sync.py), so
the two cannot drift apart: this fails when sync.py was not regenerated after an edit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "client" / "scripts" / "generate_sync.py"


def test_sync_client_is_generated_from_the_async_one() -> None:
    check = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, f"{check.stderr} (run make client-sync)"
