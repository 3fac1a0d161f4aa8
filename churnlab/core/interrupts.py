"""Ctrl-C during a run: always noticed, and remembered, whatever the process inherited.

A process started in the background by a shell without job control (a CI script's `cmd &`,
`setsid`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt; a Ctrl-C
sent to the process group still stops its children (`docker compose run` exits 130, or 255
when it loses the race with its container). A run that inferred "interrupted" from its
children's exit codes then called such a run failed. `watched()` installs a handler of the
run's own for its whole length, so the Ctrl-C raises KeyboardInterrupt in the main thread and
`Watch.arrived` says it came; `held()` keeps work that must finish (a fault's undo) from being
cut short by a second Ctrl-C, and still notes it.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Watch:
    """Whether a Ctrl-C (SIGINT) arrived while watched."""

    def __init__(self) -> None:
        self.arrived = False
        self._holding = 0

    def _handler(self, _signum, _frame) -> None:
        self.arrived = True
        if not self._holding:
            raise KeyboardInterrupt


_watches: list[Watch] = []


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def watched() -> Iterator[Watch]:
    """Ctrl-C raises KeyboardInterrupt (even where SIGINT was inherited ignored), and the Watch
    remembers it: a caller whose child died of the same Ctrl-C, with any exit code, still knows."""
    watch = Watch()
    if not _main_thread():  # only the main thread may set handlers (and only it gets Python's)
        yield watch
        return
    previous = signal.signal(signal.SIGINT, watch._handler)
    _watches.append(watch)
    try:
        yield watch
    finally:
        _watches.remove(watch)
        signal.signal(signal.SIGINT, previous)


@contextmanager
def held() -> Iterator[None]:
    """A Ctrl-C does not stop what runs inside. Under a watch it is noted there (the handler stays
    Python's, so a Ctrl-C already on its way is not dropped as SIG_IGN would drop it); with no
    watch, SIGINT is ignored, and the children started inside inherit that."""
    if not _main_thread():
        yield
        return
    if _watches:
        watch = _watches[-1]
        watch._holding += 1
        try:
            yield
        finally:
            watch._holding -= 1
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
