"""Child processes start from the fork server, each with the environment and the standard
streams its parent has when it starts it (imagetune.processes)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.connection import Connection

import pytest

from imagetune.processes import start_child

MARK = "IMAGETUNE_TEST_CHILD_MARK"


def report(answers: Connection) -> None:
    answers.send((os.environ.get(MARK), os.getppid()))


def say(words: str) -> None:
    print(words, file=sys.stderr, flush=True)


def ask_a_child() -> tuple[str | None, int]:
    answers, answer_end = multiprocessing.Pipe(duplex=False)
    child = start_child(report, (answer_end,), name="probe")
    assert answer_end.closed  # handed to the child
    try:
        assert answers.poll(60), "the child did not answer"
        value, parent = answers.recv()
    finally:
        child.join(10)
    assert child.exitcode == 0
    return value, parent


def test_a_child_has_the_environment_of_its_parent_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MARK, "before")
    assert ask_a_child()[0] == "before"  # the fork server runs from here on
    monkeypatch.setenv(MARK, "after")
    assert ask_a_child()[0] == "after"
    monkeypatch.delenv(MARK)
    assert ask_a_child()[0] is None


def test_a_child_is_forked_by_the_fork_server() -> None:
    _, first = ask_a_child()
    _, second = ask_a_child()
    assert first == second != os.getpid()


def test_a_child_writes_where_its_parent_writes_now(capfd: pytest.CaptureFixture[str]) -> None:
    with capfd.disabled():  # the fork server, if it starts here, writes elsewhere
        ask_a_child()
    child = start_child(say, ("said by a child",), name="probe")
    child.join(60)
    assert child.exitcode == 0
    assert "said by a child" in capfd.readouterr().err
