"""The ``imagetune`` command."""

from __future__ import annotations


def main() -> None:
    # Imported here, not above: the console script imports this package first, and every
    # worker and inspector process that `imagetune serve` spawns imports the script again
    # (multiprocessing re-imports the main module), where the command's own modules (Typer,
    # rich, every subcommand) would add about half a second to each start.
    from imagetune.cli.main import app

    app()
