"""One invocation of ``imagetune`` reads its settings from the environment once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagetune.cli import context
from imagetune.cli.main import app
from imagetune.config import Settings


@pytest.fixture
def settings_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Settings]:
    built: list[Settings] = []

    def counting(**overrides: object) -> Settings:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        built.append(settings)
        return settings

    monkeypatch.setattr(context, "Settings", counting)
    monkeypatch.setenv("IMAGETUNE_DATA_DIR", str(tmp_path))
    return built


def test_a_command_builds_its_settings_once(settings_built: list[Settings], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["users", "create", "alice"])
    assert result.exit_code == 0, result.output
    assert len(settings_built) == 1
    assert settings_built[0].data_dir == tmp_path
    assert (tmp_path / "imagetune.db").exists()


def test_help_builds_no_settings(settings_built: list[Settings]) -> None:
    result = CliRunner().invoke(app, ["users", "--help"])
    assert result.exit_code == 0
    assert settings_built == []
