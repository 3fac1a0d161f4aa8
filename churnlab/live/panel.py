"""The live panel during a load: what k6 and the evidence say, every second.

During `churnlab load` (and so `make load`, `make demo`, matrix and rank
runs) it shows requests/s and errors/s by kind as k6 runs, TIME_WAIT toward
the DB, the local ports in use against the range, DB connections against the
variant's bound, PgBouncer's waiting clients, the elapsed time and what is
left. Under a terminal it is a rich Live display redrawn once a second;
otherwise one plain line every PLAIN_EVERY seconds and one at the end.

Its sources are ones the run has anyway, so nothing is sampled twice:
- the EvidenceRecorder hands each record to a listener (sockets, Postgres,
  PgBouncer, once a second);
- k6 writes every sample as a JSON line (`--out json=`) into a FIFO in the run
  folder (churnlab.live.k6_stream): no file grows on disk, and only the http_reqs lines are
  decoded.

The rendering is a pure function of PanelState (churnlab.live.view), so it is
tested without a terminal. Watch ties it together and measures what the lab's
own machinery cost (churnlab.live.overhead) for run.json.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

from rich.live import Live

from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.core.console import console
from churnlab.live import overhead
from churnlab.live.k6_stream import FIFO_NAME, K6Stream, ramp_duration
from churnlab.live.view import MAX_CONNECTIONS, PanelState, plain_line, render

PLAIN_EVERY = 5.0        # seconds between plain lines when the console is not a terminal


class Watch:
    """`with recorder, Watch(...) as watch:` around the load; k6 gets watch.k6_args().

    After it: watch.overhead, the lab's own CPU against the app's and the DB's (for run.json)."""

    def __init__(self, stack, params, recorder, run_dir: Path, title: str) -> None:
        self.stack = stack
        self.recorder = recorder
        self.terminal = console.is_terminal
        self.k6 = K6Stream(run_dir / FIFO_NAME, params.scenario)
        self.overhead: dict | None = None
        self.problems: list[str] = []
        self._meter = overhead.Meter(getattr(recorder, "marker", None))
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the recorder's threads and the ticker both update the state
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._started = time.monotonic()
        self._live: Live | None = None
        bound, label = self._bound()
        self.state = PanelState(
            title=title, total=params.iterations if params.scenario == "ab" else None,
            duration_s=ramp_duration() if params.scenario == "ramp" else None, db_bound=bound, db_bound_label=label)
        self._streaming = False

    def _bound(self) -> tuple[int | None, str]:
        try:
            selection = self.stack.selection
            db_path = str(catalog.variant(selection.variant)["db_path"])
            pool = None
            if db_path.startswith("pgbouncer"):
                env = self.stack.config("pgbouncer")["services"]["pgbouncer"]["environment"]
                pool = int(env["PGBOUNCER_DEFAULT_POOL_SIZE"])
            return diagnosis.connection_bound(selection.app_environment(), db_path, pool)
        except Exception:  # noqa: BLE001 - the panel shows max_connections instead
            return None, ""

    def k6_args(self) -> list[str]:
        """k6's extra output: its JSON lines into the FIFO (none when it could not be made)."""
        return ["--out", f"json=/results/{FIFO_NAME}"] if self._streaming else []

    def __enter__(self) -> Watch:
        self._streaming = self.k6.start()
        if self.k6.error:
            self.problems.append(self.k6.error)
        listeners = getattr(self.recorder, "listeners", None)
        if listeners is not None:
            listeners.append(self.on_record)
            targets = getattr(self.recorder, "targets", [])
            self.state = replace(self.state, db_target=targets[0] if targets else None)
        self._meter.start()
        self._started = time.monotonic()
        if self.terminal:
            self._live = Live(render(self.state), console=console, auto_refresh=False, transient=False)
            self._live.start()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.overhead = self._meter.stop()
        except Exception as exc:  # noqa: BLE001 - a missing figure never loses the run
            self.problems.append(f"overhead not measured: {exc}")
        self.k6.stop()
        self._update(final=True)
        if self._live is not None:
            self._live.update(render(self.state), refresh=True)
            self._live.stop()
        else:
            console.print(plain_line(self.state), highlight=False, markup=False)
        if self.k6.error and self.k6.error not in self.problems:
            self.problems.append(self.k6.error)

    def on_record(self, record: dict) -> None:
        """The recorder's listener: keep the latest figures of each source."""
        with self._lock:
            self.state = _with_record(self.state, record)

    def _update(self, final: bool = False) -> None:
        """k6's figures and the clock; at the end, req/s is the whole run's mean."""
        rps, errors = self.k6.last_second()
        elapsed = time.monotonic() - self._started
        if final and elapsed > 0:
            rps = round(self.k6.done / elapsed)
        with self._lock:
            self.state = replace(self.state, elapsed_s=elapsed, done=self.k6.done,
                                 errors_total=self.k6.errors_total, rps=rps if self._streaming else None,
                                 errors_per_s=errors)

    def _tick(self) -> None:
        last_plain = time.monotonic()
        while not self._stop.wait(1.0):
            self._update()
            if self._live is not None:
                self._live.update(render(self.state), refresh=True)
            elif time.monotonic() - last_plain >= PLAIN_EVERY - 0.01:
                last_plain = time.monotonic()
                console.print(plain_line(self.state), highlight=False, markup=False)


def _with_record(state: PanelState, record: dict) -> PanelState:
    """The state with one evidence record's figures (the latest of each source wins)."""
    source = record.get("source")
    if source == "netns":
        target = (record.get("targets") or {}).get(state.db_target or "", {})
        return replace(state, time_wait=target.get("time_wait", record.get("time_wait")),
                       ports_in_use=record.get("local_ports_in_use"), port_range=record.get("port_range_size"))
    if source == "postgres":
        bound = {}
        if state.db_bound is None or state.db_bound_label == MAX_CONNECTIONS:
            bound = {"db_bound": record.get("max_connections"), "db_bound_label": MAX_CONNECTIONS}
        return replace(state, db_connections=record.get("client_backends"), **bound)
    if source == "pgbouncer":
        return replace(state, pgbouncer_waiting=record.get("clients_waiting"))
    return state
