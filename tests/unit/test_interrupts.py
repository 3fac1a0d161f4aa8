"""Ctrl-C during a run (churnlab.core.interrupts): raised and remembered even where the process
came in with SIGINT ignored (a CI script's background job), and noted, not raised, while work that
must finish runs (a fault's undo)."""
import os
import signal
import time

import pytest

from churnlab import faults
from churnlab.core import interrupts


@pytest.fixture()
def came_in_ignored():
    """As a background job without job control starts: SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs in this thread at its next bytecode


def test_a_watched_ctrl_c_raises_and_is_remembered_where_sigint_came_in_ignored(came_in_ignored):
    with pytest.raises(KeyboardInterrupt):
        with interrupts.watched() as watch:
            ctrl_c()
            pytest.fail("the Ctrl-C did not stop the watched work")
    assert watch.arrived
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # as the process came in


def test_a_watch_with_no_ctrl_c_says_none_came(came_in_ignored):
    with interrupts.watched() as watch:
        time.sleep(0.01)
    assert not watch.arrived


def test_a_held_ctrl_c_lets_the_work_finish_and_the_watch_still_knows(came_in_ignored):
    done = []
    with interrupts.watched() as watch:
        with interrupts.held():
            ctrl_c()
            ctrl_c()  # a second one too
            done.append("undo")
        assert watch.arrived
    assert done == ["undo"]


def test_held_without_a_watch_ignores_sigint_and_gives_back_the_handler():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupts.held():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # its children inherit that
            ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


class UndoStoppedByCtrlC:
    """An injector whose undo is hit by a Ctrl-C half-way: the undo must still finish."""
    target = "db"

    def __init__(self):
        self.calls = []

    def inject(self) -> None:
        self.calls.append("inject")

    def undo(self) -> None:
        ctrl_c()
        self.calls.append("undo finished")

    def left_broken(self) -> list[str]:
        return []


def test_a_ctrl_c_during_the_faults_undo_is_noted_and_the_undo_finishes(came_in_ignored):
    fake = UndoStoppedByCtrlC()
    with interrupts.watched() as watch:
        with faults.FaultTimer(faults.Plan("db-lossy", 0.01, 30, 3, loss_pct=30), fake) as t:
            time.sleep(0.2)
    assert fake.calls == ["inject", "undo finished"] and t.record.errors == []
    assert watch.arrived
