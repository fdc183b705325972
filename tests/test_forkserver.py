"""tests/forkserver.py starts a command as ``python -m MODULE ARGS`` would: this module is
the command (run as ``__main__``, it reports what it was given and exits as asked)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import forkserver
from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("IMAGETUNE_TEST_FORKSERVER") == "0", reason="IMAGETUNE_TEST_FORKSERVER=0"
)


def launched(
    tmp_path: Path, *args: str, cwd: Path | None = None, **env: str
) -> tuple[forkserver.ForkedProcess | subprocess.Popen[bytes], Path]:
    log = tmp_path / "log"
    process = forkserver.launch(
        "tests.test_forkserver", list(args), {**os.environ, **env}, cwd or tmp_path, log
    )
    return process, log


def reported(log: str) -> dict[str, Any]:
    """The report in a log that also holds the command's errors."""
    [line] = [line for line in log.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(line)
    return result


def test_a_command_gets_its_arguments_environment_directory_session_and_exit_code(
    tmp_path: Path,
) -> None:
    process, log = launched(tmp_path, "report", "7", IMAGETUNE_PROBE="given")
    assert isinstance(process, forkserver.ForkedProcess)
    assert process.wait(timeout=30) == 7
    report = reported(log.read_text())
    assert report["argv"] == [str(Path(__file__)), "report", "7"]
    assert report["probe"] == "given"
    assert report["cwd"] == str(tmp_path)
    assert report["session"] == report["pid"] == process.pid
    assert report["main"] == "tests.test_forkserver"


def test_signals_reach_the_command_and_its_exit_says_so(tmp_path: Path) -> None:
    process, _ = launched(tmp_path, "wait")
    assert process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.2)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_another_python_path_starts_a_fresh_interpreter(tmp_path: Path) -> None:
    # bench/*.py --compare runs another checkout's code through PYTHONPATH: the modules
    # the fork server imported would be this checkout's.
    process, log = launched(tmp_path, "report", "0", PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    assert isinstance(process, subprocess.Popen)
    assert process.wait(timeout=60) == 0
    assert reported(log.read_text())["probe"] is None


def test_a_captured_command_gives_its_output_errors_and_exit_code_apart(tmp_path: Path) -> None:
    env = {**os.environ, "IMAGETUNE_PROBE": "given"}
    done = forkserver.capture(["-m", "tests.test_forkserver", "report", "5"], env, 60, cwd=tmp_path)
    assert done.returncode == 5
    report = json.loads(done.stdout)
    assert report["forked"]
    assert (report["probe"], report["cwd"], report["input"]) == ("given", str(tmp_path), "")
    assert done.stderr == "errors apart\n"


def test_a_captured_command_past_its_time_is_killed(tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.capture(["-m", "tests.test_forkserver", "wait"], dict(os.environ), 0.5)


def test_a_command_imports_the_command_line_interface_under_its_own_terminal(
    tmp_path: Path,
) -> None:
    # The CLI's consoles take their width and colours from the environment when they are
    # made, as it is imported: the fork server has not imported it.
    for width in ("57", "131"):
        env = {**os.environ, "COLUMNS": width}
        done = forkserver.capture(["-m", "tests.test_forkserver", "width", "0"], env, 60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"forked": True, "preloaded": [], "width": int(width)}


SCRIPT = """
import json, sys
forked = "uvicorn" in sys.modules  # the fork server imported it; this script does not
if sys.argv[1:] == ["checkout"]:
    sys.path.insert(0, %r)
import tests.support
print(json.dumps({"argv": sys.argv, "forked": forked}))
"""


def test_a_script_runs_with_its_own_directory_on_the_path_not_the_checkouts(
    tmp_path: Path,
) -> None:
    # A benchmark's smoke run: by hand, a script that does not put the checkout on its
    # path cannot import tests.support, and forked it cannot either.
    script = tmp_path / "script.py"
    script.write_text(SCRIPT % str(ROOT))
    alone = forkserver.capture([str(script)], dict(os.environ), 60, cwd=ROOT)
    assert alone.returncode == 1
    assert "ModuleNotFoundError: No module named 'tests" in alone.stderr
    done = forkserver.capture([str(script), "checkout"], dict(os.environ), 60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"argv": [str(script), "checkout"], "forked": True}


HANDED = """
import json, os, sys
from pathlib import Path
from typing import Any
from tests import forkserver
process = forkserver.launch("tests.test_forkserver", ["report", "3"], dict(os.environ),
                            Path(sys.argv[1]), Path(sys.argv[1]) / "log")
print(json.dumps([type(process).__name__, process.wait(timeout=30)]))
"""


def test_a_process_handed_the_fork_server_launches_through_it(tmp_path: Path) -> None:
    # A benchmark's smoke run (tests/test_bench.py): not a test session, yet its servers
    # are forked.
    env = {**os.environ, **forkserver.shared()}
    done = subprocess.run(
        [sys.executable, "-c", HANDED, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["ForkedProcess", 3]
    assert reported((tmp_path / "log").read_text())["main"] == "tests.test_forkserver"


if __name__ == "__main__":
    # Forked: the fork server imported tests.processors, which a fresh `python -m` does not.
    forked = "tests.processors" in sys.modules
    if sys.argv[1] == "wait":
        signal.pause()
    if sys.argv[1] == "width":
        preloaded = sorted(m for m in sys.modules if m.startswith("imagetune.cli"))
        from imagetune.cli.console import console

        print(json.dumps({"forked": forked, "preloaded": preloaded, "width": console.width}))
        sys.exit(0)
    main_module = sys.modules["__main__"]
    print("errors apart", file=sys.stderr)
    print(
        json.dumps(
            {
                "forked": forked,
                "input": sys.stdin.read(),
                "argv": sys.argv,
                "probe": os.environ.get("IMAGETUNE_PROBE"),
                "cwd": os.getcwd(),
                "pid": os.getpid(),
                "session": os.getsid(0),
                "main": main_module.__spec__.name if main_module.__spec__ else None,
            }
        )
    )
    sys.exit(int(sys.argv[2]))
