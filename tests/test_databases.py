"""The rule for service-dependent tests: skip with a reason, or fail where required."""

from __future__ import annotations

import pytest

from tests import databases


def test_unreachable_postgres_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGETUNE_TEST_REQUIRE_SERVICES", raising=False)
    monkeypatch.setattr(databases, "POSTGRES_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(pytest.skip.Exception, match="not reachable"):  # noqa: SIM117
        with databases.fresh_postgres_database():
            pass


def test_unreachable_postgres_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGETUNE_TEST_REQUIRE_SERVICES", "1")
    monkeypatch.setattr(databases, "POSTGRES_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(pytest.fail.Exception, match="required service missing"):  # noqa: SIM117
        with databases.fresh_postgres_database():
            pass
