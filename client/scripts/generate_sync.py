"""Write the blocking client (sync.py) from the async one (asyncio_client.py).

The two clients are one implementation: requests, retries, error mapping and polling are
written once, with ``await``, and unasync removes it token by token. What the tokens
cannot say (docstrings that name the face, the sleep) is in SUBSTITUTIONS, each of which
must match, so an edited source cannot slip past unconverted. The result is formatted by
ruff, as ``make lint`` checks it.

    python client/scripts/generate_sync.py           # rewrite sync.py (make client-sync)
    python client/scripts/generate_sync.py --check   # exit 1 when sync.py is out of date
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "imagetune_client"
SOURCE = PACKAGE / "asyncio_client.py"
TARGET = PACKAGE / "sync.py"

# Names unasync does not know; its own table covers __aenter__ and __aexit__.
REPLACEMENTS = {"AsyncClient": "Client", "aclose": "close"}

SUBSTITUTIONS = [
    (
        '"""``AsyncClient``: the same methods as ``Client``, awaitable."""',
        '"""``Client``: the blocking client."""',
    ),
    (
        "# sync.py is generated from this file (make client-sync): one implementation, two faces.",
        "# Generated from asyncio_client.py (make client-sync): edit that file, not this one.",
    ),
    (
        '"""An asyncio client of one imagetune server; ``async with``, or ``await close()``."""',
        '"""A client of one imagetune server; use it as a context manager, or call ``close``."""',
    ),
    ("import asyncio\n", ""),
    ("asyncio.sleep(", "time.sleep("),
]


def generate() -> str:
    """The text sync.py should have."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / SOURCE.name
        source.write_text(SOURCE.read_text())
        rule = unasync.Rule(SOURCE.name, TARGET.name, additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(source)], rules=[rule])
        text = (Path(tmp) / TARGET.name).read_text()
    for old, new in SUBSTITUTIONS:
        if old not in text:
            raise SystemExit(f"{SOURCE.name} no longer contains {old!r}: update SUBSTITUTIONS")
        text = text.replace(old, new)
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether sync.py is current")
    args = parser.parse_args()
    text = generate()
    if not args.check:
        TARGET.write_text(text)
    elif TARGET.read_text() != text:
        sys.exit(f"{TARGET} is out of date with {SOURCE.name}: run make client-sync")


if __name__ == "__main__":
    main()
