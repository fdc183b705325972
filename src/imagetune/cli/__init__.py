"""The ``imagetune`` command."""

from __future__ import annotations

from imagetune.cli.main import app


def main() -> None:
    app()
