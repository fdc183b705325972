"""Opening the database: the one function the service, the CLI and the tests all use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from imagetune.db.engine import make_engine, make_sessionmaker


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> bool:
        """Whether the database answers now."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect to ``url`` and, unless told not to, bring its schema to the latest revision
    (idempotent; concurrent upgrades are serialised by the migrations themselves)."""
    engine = make_engine(url)
    if migrate:
        # Alembic is imported only to migrate: worker processes open the database
        # without, at every start.
        from imagetune.db.migrate import upgrade

        upgrade(engine)
    return Database(engine, make_sessionmaker(engine))
