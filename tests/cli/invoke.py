"""``imagetune ARGS`` run in the test's own process, as Typer's CliRunner runs it.

The commands, their settings (read from the environment given, once per invocation),
their output and exit codes are the real ones; only the interpreter start and the
imports of a fresh process are saved. A command that must be seen from outside as a
process (signals, the console script, servers) is run with subprocess instead.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from imagetune.cli.main import app


def imagetune(data_dir: Path, *args: str, check: bool = True, **env: str) -> Result:
    """Run ``imagetune ARGS`` with IMAGETUNE_DATA_DIR=``data_dir`` and ``env``."""
    runner = CliRunner(env={"IMAGETUNE_DATA_DIR": str(data_dir), "COLUMNS": "200", **env})
    result = runner.invoke(app, list(args), catch_exceptions=False)
    if check:
        assert result.exit_code == 0, result.stdout + result.stderr
    return result
