"""Databases for tests: SQLite files, and fresh PostgreSQL databases on the local server.

PostgreSQL tests use the server at IMAGETUNE_TEST_POSTGRES_URL (default: the local one,
trust auth). Where it cannot be reached they skip with the reason, unless
IMAGETUNE_TEST_REQUIRE_SERVICES is set (CI sets it), which makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from imagetune.db.engine import normalize_url

POSTGRES_URL = os.environ.get(
    "IMAGETUNE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def service_missing(reason: str) -> None:
    if os.environ.get("IMAGETUNE_TEST_REQUIRE_SERVICES"):
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = f"imagetune_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        admin.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_URL} is not reachable ({e.orig})")
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
