"""The ``imagetune`` command.

Its entry point is ``run``, not ``main``: ``imagetune.cli.main`` is the module of the
commands, and importing it would replace a package attribute of the same name."""

from __future__ import annotations


def run() -> None:
    # Imported here, not above: the console script imports this package first, and every
    # worker and inspector process that `imagetune serve` starts imports the script again
    # (multiprocessing re-imports the main module), where the command's own modules (Typer,
    # rich, every subcommand) would add about half a second to each start.
    from imagetune.cli.main import app

    app()
