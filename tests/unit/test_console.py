"""Long commands under the one console: run_logged_together starts them at once, each into its own log."""
from __future__ import annotations

import os

import pytest

from churnlab.core.console import Logged, run_logged, run_logged_together
from churnlab.core.errors import LabError


def sh(script: str, title: str, log) -> Logged:
    return Logged(["sh", "-c", script], title, log)


def test_the_commands_run_at_the_same_time_each_into_its_own_log(tmp_path):
    # The first waits (up to 10 s) for a file only the second makes: one after the other, it would fail.
    flag = tmp_path / "made"
    waits = f"for i in $(seq 100); do [ -e {flag} ] && echo saw it && exit 0; sleep 0.1; done; exit 1"
    run_logged_together([sh(waits, "waiter", tmp_path / "a.log"),
                         sh(f"echo making; touch {flag}", "maker", tmp_path / "b.log")])
    assert (tmp_path / "a.log").read_text() == "saw it\n"
    assert (tmp_path / "b.log").read_text() == "making\n"


def test_a_failure_is_raised_after_every_command_ended_with_its_own_tail(tmp_path):
    with pytest.raises(LabError) as caught:
        run_logged_together([sh("echo first line; echo broke; exit 3", "the broken one", tmp_path / "a.log"),
                             sh("sleep 0.3; echo finished", "the slow one", tmp_path / "b.log")])
    text = str(caught.value)
    assert text.startswith("the broken one failed (exit 3); last lines of ") and text.endswith("first line\nbroke")
    assert (tmp_path / "b.log").read_text() == "finished\n"  # not cut short by the other's failure


def _running(argv: list[str]) -> bool:
    wanted = "\0".join(argv) + "\0"
    for proc in os.listdir("/proc"):
        try:
            if proc.isdigit() and open(f"/proc/{proc}/cmdline").read() == wanted:
                return True
        except OSError:
            pass
    return False


def test_an_error_while_starting_stops_the_commands_already_running(tmp_path):
    long = ["sleep", f"{30 + os.getpid() % 1000 / 1000:.3f}"]  # a command line of this test's own
    with pytest.raises(FileNotFoundError):
        run_logged_together([Logged(long, "long", tmp_path / "a.log"),
                             Logged([str(tmp_path / "no-such-program")], "missing", tmp_path / "b.log")])
    assert not _running(long)


def test_run_logged_is_one_command_of_the_same(tmp_path):
    run_logged(["sh", "-c", "echo one"], "single", tmp_path / "one.log")
    assert (tmp_path / "one.log").read_text() == "one\n"
    with pytest.raises(LabError, match=r"^single failed \(exit 2\)"):
        run_logged(["sh", "-c", "exit 2"], "single", tmp_path / "one.log")
