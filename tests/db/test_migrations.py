from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from imagetune.db.engine import make_engine
from imagetune.db.migrate import alembic_config, current_revision, upgrade
from imagetune.db.models import Base
from tests.databases import fresh_postgres_database


def test_upgrade_is_idempotent_and_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == "0009"
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": lambda name, *_: _ours(name)}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    engine.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == "0009"
    engine.dispose()


def _ours(name: str | None) -> bool:
    # procrastinate's tables (PostgreSQL only) are created from its package, not our models.
    return not (name or "").startswith("procrastinate")


def test_procrastinate_schema_only_on_postgresql(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert ("procrastinate_jobs" in tables) == database_url.startswith("postgresql")
    engine.dispose()


@pytest.mark.slow
def test_processes_starting_together_migrate_once() -> None:
    # API and worker processes on several machines start at once against one database.
    # Separate processes, as in production (Alembic's context is process-global), each
    # sleeping until the same instant so that their migrations overlap.
    with fresh_postgres_database() as url:
        script = (
            "import sys, time\n"
            "from imagetune.db.engine import make_engine\n"
            "from imagetune.db.migrate import current_revision, upgrade\n"
            "engine = make_engine(sys.argv[1])\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
            "upgrade(engine)\n"
            "print(current_revision(engine))\n"
        )
        start_at = str(time.time() + 3)
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", script, url, start_at],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
        assert [run.returncode for run in runs] == [0] * 4, outputs
        assert [output.split()[-1] for output in outputs] == ["0009"] * 4


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
