"""``python -m tests.fake_imagetune serve|worker ...``: the imagetune command, unchanged,
with the worker processes' processor chosen by IMAGETUNE_TEST_PROCESSOR (see
tests.processors). The seam is the CLI's own Hooks."""

from __future__ import annotations

import os

from imagetune.cli.context import Hooks
from imagetune.cli.main import app
from tests.processors import processor_factory

if __name__ == "__main__":
    spec = os.environ.get("IMAGETUNE_TEST_PROCESSOR", "engine")
    app(obj=Hooks(processor_factory=processor_factory(spec)))
