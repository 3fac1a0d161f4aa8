"""The fault's timer: put in place FAULT_AT seconds into the load, held FAULT_FOR seconds,
and always undone (when its time is up, when the load ends first, on an error, on Ctrl-C)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol

from churnlab.core import interrupts, run_record
from churnlab.faults.plan import Plan, _now


class Injector(Protocol):
    target: str

    def inject(self) -> None: ...
    def undo(self) -> None: ...       # safe to call when nothing (or half of it) was done
    def left_broken(self) -> list[str]: ...


class FaultTimer:
    """A context manager around the load: the fault starts `at` s after entry and is undone
    `duration` s later, or at exit, whichever comes first; exactly one undo per injection."""

    def __init__(self, chosen: Plan, injector: Injector, now=_now):
        self.plan = chosen
        self.injector = injector
        self._now = now
        self.record = run_record.Fault(kind=chosen.kind, planned_at_s=float(chosen.at),
                                       planned_for_s=float(chosen.duration), target=injector.target,
                                       db_cpus=chosen.db_cpus, delay_ms=chosen.delay_ms, loss_pct=chosen.loss_pct)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._attempted = False
        self._undone = False
        self._thread = threading.Thread(target=self._run, name="churnlab-fault", daemon=True)

    # Seconds between entry and the load's start: several generators begin
    # together at a shared time this far ahead (loadrun.start_lead), and
    # FAULT_AT counts from there.
    offset_s: float = 0.0

    def __enter__(self) -> FaultTimer:
        self.record.load_started = self._now() if not self.offset_s else \
            (datetime.now(timezone.utc) + timedelta(seconds=self.offset_s)).isoformat(timespec="milliseconds")
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.offset_s + self.plan.at):
            return
        self._inject()
        self._stop.wait(self.plan.duration)
        self._undo()

    def _inject(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._attempted = True  # from here on, an undo is owed even if inject fails half-way
            started = self._now()  # when it was triggered: a db stop fails requests before `docker stop` returns
            try:
                self.injector.inject()
                self.record.started = started
            except Exception as exc:  # noqa: BLE001 - recorded; the undo still runs
                self.record.errors.append(f"putting {self.plan.kind} in place failed: {exc}")

    def _undo(self) -> None:
        with self._lock:
            if not self._attempted or self._undone:
                return
            self._undone = True
            try:
                self.injector.undo()
            except Exception as exc:  # noqa: BLE001
                self.record.errors.append(f"undoing {self.plan.kind} failed: {exc}")
            self.record.ended = self._now()

    def __exit__(self, *exc) -> None:
        with interrupts.held():  # a second Ctrl-C must not skip the undo
            self._stop.set()
            self._thread.join()
            self._undo()
