"""What one invocation of ``imagetune`` shares: its settings, read from the environment
once, and what an embedding program swapped in (the test suite's processors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from imagetune.config import Settings

if TYPE_CHECKING:
    from imagetune.hosting.worker_process import ProcessorFactory


@dataclass(frozen=True)
class Hooks:
    """What a program embedding this CLI may swap (``main(obj=Hooks(...))``): the test
    suite runs `serve` and `worker` with processors that take a chosen time."""

    processor_factory: ProcessorFactory | None = None


class Invocation:
    """The context object of one command line (``ctx.obj``), made by the top-level
    callback. Settings are built on first use, not up front: `--help` and
    `upscale --server` need none, and a bad setting should not stop them."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        self._settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        """The settings of this invocation; ``overrides`` (command-line options that
        stand for a setting) apply to the first call, which builds them."""
        if self._settings is None:
            self._settings = Settings(**overrides)
        return self._settings

    def processor_factory(self) -> ProcessorFactory:
        from imagetune import wiring

        return self.hooks.processor_factory or wiring.processor


def invocation(ctx: typer.Context) -> Invocation:
    """This command line's Invocation (made by the callback of ``imagetune.cli.main``)."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Invocation), "imagetune's commands run under its top-level app"
    return obj


def settings(ctx: typer.Context) -> Settings:
    return invocation(ctx).settings()
