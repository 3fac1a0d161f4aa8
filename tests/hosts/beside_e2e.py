"""The lab hosts' tests beside the e2e tests (scripts/test-suites.sh, make test).

make test starts the hosts' tests in the background with
CHURNLAB_TEST_E2E_LOADS_DONE naming a file made once the e2e tests' loads are
done: when the first e2e test marked no_load starts (they run last: no load, no
time measured; tests/e2e/conftest.py), or when the e2e tests end. Until then:
- only the tests marked `beside_e2e` run: the hosts coming up, the converges and
  dry runs, the checks that only read the hosts. None puts a load on or writes
  under results/ (where the e2e tests look for their runs), and none
  measures time, so a busy machine makes them slower, never wrong;
- they run at a lower CPU priority (nice 10 for this pytest and what it starts,
  CPU shares 256 of Docker's 1024 for the lab hosts' containers), so the e2e
  tests' loads keep the machine as if alone;
- the first test not marked waits for the file (the hosts' containers at CPU
  shares 2 meanwhile: idle, they still take 0.09 of a core), then gives both back.
`make test-hosts` alone sets nothing: no wait, no priority changed."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ENV = "CHURNLAB_TEST_E2E_LOADS_DONE"
MARK = "beside_e2e"
NICE = 10
SHARES = 256  # of Docker's default 1024 a container, while the converges run
IDLE_SHARES = 2  # while the hosts wait, idle


def _done_file() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def loads_done() -> None:
    """The e2e side (tests/e2e/conftest.py): its loads are over, the hosts' may begin. Nothing without make test."""
    done = _done_file()
    if done is not None:
        done.touch(exist_ok=True)


_state = {"lowered": False, "released": False}


def _shares(containers: list[str], shares: int) -> None:
    if containers:
        subprocess.run(["docker", "update", "--cpu-shares", str(shares), *containers],
                       capture_output=True, text=True, check=True)


def yield_cpu(containers: list[str] = ()) -> None:
    """While the e2e tests run: this process (and what it starts from now on) and the given containers
    get less of the CPU than the e2e's. Nothing once they are done, or without make test."""
    done = _done_file()
    if done is None or done.exists() or _state["released"]:
        return
    if not _state["lowered"]:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
        _state["lowered"] = True
    _shares(list(containers), SHARES)


def _release(containers: list[str]) -> None:
    if _state["lowered"]:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        except PermissionError:  # not root: stays at nice 10, with nothing left to share the machine with
            pass
        _shares(containers, 1024)
    _state["released"] = True


def guard(item: pytest.Item, containers) -> None:
    """Before each test (pytest_runtest_setup): a test not marked beside_e2e waits until the e2e tests'
    loads are done; the first test after they are gives the CPU priority back."""
    done = _done_file()
    if done is None or _state["released"]:
        return
    if not done.exists() and item.get_closest_marker(MARK) is not None:
        return
    started = time.monotonic()
    if not done.exists():
        if _state["lowered"]:  # idle, the converged hosts still take 0.09 of a core: less while they wait
            _shares(containers(), IDLE_SHARES)
        _say(item, f"\n[hosts] {item.name} waits for the e2e tests' loads to end")
        while not done.exists():
            time.sleep(1)
        _say(item, f"[hosts] waited {time.monotonic() - started:.0f} s for the e2e tests' loads")
    _release(containers())


def _say(item: pytest.Item, line: str) -> None:
    """A line in the log as it happens, past pytest's capture of the test's setup."""
    with item.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        item.config.pluginmanager.get_plugin("terminalreporter").write_line(line)
