"""Messages the CLI prints."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.console import Console

from imagetune.config import Settings

console = Console(stderr=True, soft_wrap=True)


def command_name() -> str:
    """How the user invoked us, so printed hints can be pasted as they are."""
    argv0 = sys.argv[0]
    if Path(argv0).name in ("__main__.py", "-c"):
        return "python -m imagetune"
    return shlex.quote(argv0) if "/" in argv0 else "imagetune"


def how_to_get_a_key(settings: Settings) -> None:
    base = settings.resolved_public_url()
    cmd = command_name()
    env = "" if settings.data_dir == Path("data") else f"IMAGETUNE_DATA_DIR={settings.data_dir} "
    playground = f", playground: {base}/" if settings.playground else ""
    console.print(
        f"[bold]imagetune[/] listening on [cyan]{base}[/] (API docs: {base}/docs{playground})"
    )
    console.print("Get an API key, in another terminal:")
    console.print(f"  {env}{cmd} users create alice", highlight=False)
    console.print(f"  {env}{cmd} keys create alice", highlight=False)
