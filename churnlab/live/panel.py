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
  folder (K6Stream): no file grows on disk, and only the http_reqs lines are
  decoded.

The rendering is a pure function of PanelState (render, plain_line), so it is
tested without a terminal. Watch ties it together and measures what the lab's
own machinery cost (churnlab.live.overhead) for run.json.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from churnlab import diagnosis
from churnlab.core import catalog, files
from churnlab.core.console import console
from churnlab.core.fmt import number as _n
from churnlab.core.paths import ROOT
from churnlab.live import overhead

PLAIN_EVERY = 5.0        # seconds between plain lines when the console is not a terminal
FIFO_NAME = ".k6-live.fifo"  # in the run folder, /results/ inside k6's container; removed when the load ends
BAR_WIDTH = 20
LABEL_WIDTH = 20
PIPE_SIZE = 1 << 20      # F_SETPIPE_SZ: 1 MiB of k6 lines may wait before k6 would block on the FIFO
_F_SETPIPE_SZ = 1031
SCENARIOS_JS = ROOT / "k6" / "scenarios.js"
MAX_CONNECTIONS = "(max_connections)"  # the bound shown when the variant sets none


# -- the state and its rendering (pure) ------------------------------------------
@dataclass(frozen=True)
class PanelState:
    """What the panel shows at one moment; every figure None until its source has said it."""

    title: str
    elapsed_s: float = 0.0
    done: int = 0                      # requests of the scenario answered (or failed) so far
    total: int | None = None           # ITERATIONS (ab); None for a duration-bound scenario
    duration_s: float | None = None    # the scenario's duration (ramp)
    rps: float | None = None           # requests in the last whole second
    errors_per_s: dict[str, int] = field(default_factory=dict)  # by kind, the last whole second
    errors_total: int = 0
    db_target: str | None = None       # the DB (or PgBouncer) ip:port the app connects to
    time_wait: int | None = None       # TIME_WAIT toward db_target
    ports_in_use: int | None = None    # local ports of ip_local_port_range in use
    port_range: int | None = None      # the range's size
    db_connections: int | None = None  # Postgres client backends
    db_bound: int | None = None        # what the variant allows (or max_connections)
    db_bound_label: str = ""
    pgbouncer_waiting: int | None = None  # None: no PgBouncer

    def left(self) -> str:
        """What is left, in words: requests and a time at the recent rate, or the scenario's time."""
        if self.total is not None:
            remaining = max(0, self.total - self.done)
            eta = f", ~{_clock(remaining / self.rps)}" if self.rps and remaining else ""
            return f"{remaining:,} left{eta}"
        if self.duration_s is not None:
            return f"{_clock(max(0.0, self.duration_s - self.elapsed_s))} left of {_clock(self.duration_s)}"
        return "-"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _errors(state: PanelState) -> str:
    if not state.errors_per_s:
        return "0"
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(state.errors_per_s.items(), key=lambda kv: -kv[1]))


def _pct(part: int | None, whole: int | None) -> str:
    return f" ({100.0 * part / whole:.0f}%)" if part is not None and whole else ""


def _bar(part: int | None, whole: int | None) -> ProgressBar | Text:
    if part is None or not whole:
        return Text("")
    return ProgressBar(total=whole, completed=min(part, whole), width=BAR_WIDTH,
                       complete_style="red" if part >= 0.9 * whole else "green")


def render(state: PanelState) -> Group:
    """The panel as a rich renderable: a title, then one row per figure (label, bar, figures)."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True, min_width=LABEL_WIDTH)
    table.add_column(no_wrap=True, width=BAR_WIDTH)
    table.add_column(no_wrap=True, overflow="ellipsis")
    done = f"{state.done:,}" + (f" / {state.total:,}" if state.total is not None else "") + " requests"
    table.add_row("progress", _bar(state.done, state.total),
                  f"{done}, {_clock(state.elapsed_s)} elapsed, {state.left()}")  # the end is cut first
    colour = "red" if state.errors_per_s else "green"
    table.add_row("req/s", "", f"{_n(state.rps)}   errors/s: [{colour}]{_errors(state)}[/]"
                  f"   ({state.errors_total:,} failed in all)")
    table.add_row("local ports", _bar(state.ports_in_use, state.port_range),
                  f"{_n(state.ports_in_use)} / {_n(state.port_range)}{_pct(state.ports_in_use, state.port_range)}")
    table.add_row(f"TIME_WAIT to {state.db_target or 'the DB'}", "", _n(state.time_wait))
    table.add_row("DB connections", _bar(state.db_connections, state.db_bound),
                  f"{_n(state.db_connections)} / {_n(state.db_bound)} {state.db_bound_label}")
    if state.pgbouncer_waiting is not None:
        table.add_row("PgBouncer waiting", "", _n(state.pgbouncer_waiting))
    return Group(Text(state.title, style="bold"), table)


def plain_line(state: PanelState) -> str:
    """The panel as one line, for logs and pipes."""
    done = f"{state.done:,}" + (f"/{state.total:,}" if state.total is not None else "")
    parts = [f"load {_clock(state.elapsed_s)}: {done} requests", f"{_n(state.rps)} req/s",
             f"errors/s {_errors(state)}",
             f"TIME_WAIT {state.db_target or 'db'} {_n(state.time_wait)}",
             f"ports {_n(state.ports_in_use)}/{_n(state.port_range)}{_pct(state.ports_in_use, state.port_range)}",
             f"DB conns {_n(state.db_connections)}/{_n(state.db_bound)} {state.db_bound_label}".rstrip()]
    if state.pgbouncer_waiting is not None:
        parts.append(f"PgBouncer waiting {state.pgbouncer_waiting:,}")
    parts.append(state.left())
    return "; ".join(parts)


# -- the figures' sources ---------------------------------------------------------
def error_kind(tags: dict) -> str | None:
    """A failed request's kind from k6's tags: the HTTP status, or for no answer k6's error in short."""
    status = str(tags.get("status", ""))
    if tags.get("expected_response") == "true" or status.startswith(("2", "3")):
        return None
    if status and status != "0":
        return status
    error = str(tags.get("error") or tags.get("error_code") or "no answer")
    return error.rsplit(": ", 1)[-1][:40]


def ramp_duration(script: Path = SCENARIOS_JS) -> float | None:
    """The ramp scenario's duration, from the k6 script's own default (RAMP_DURATION)."""
    try:
        found = re.search(r"RAMP_DURATION\s*\|\|\s*'(\d+)s'", script.read_text())
    except OSError:
        return None
    return float(found.group(1)) if found else None


class K6Stream:
    """Reads k6's JSON lines from a FIFO: requests and failures per second, by kind.

    The FIFO is opened read-write, so neither side's open blocks and k6 never
    sees it closed; the reader drains it until told to stop, whatever a line
    holds, so k6 is never held up by it."""

    def __init__(self, path: Path, scenario: str) -> None:
        self.path = path
        self.scenario = scenario
        self.done = 0
        self.errors_total = 0
        self.per_second: deque[tuple[int, int, dict[str, int]]] = deque(maxlen=5)  # (second, requests, errors)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fd: int | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> bool:
        try:
            os.mkfifo(self.path, 0o600)
            files.chown_if_root([self.path], self.path.parent.stat().st_uid, self.path.parent.stat().st_gid)
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError as exc:
            self.error = f"k6 live figures not available: {exc}"
            return False
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _read(self) -> None:
        buffer = b""
        assert self._fd is not None
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.5)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    chunk = b""
            if not chunk:
                if self._stop.is_set():
                    return
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            try:
                self.feed(lines)
            except Exception as exc:  # noqa: BLE001 - keep draining: k6 must never block on us
                self.error = f"k6 live figures: {exc}"

    def feed(self, lines: list[bytes], now: float | None = None) -> None:
        """Count the http_reqs points of the scenario among k6's JSON lines."""
        second = int(now if now is not None else time.time())
        requests, errors = 0, {}
        for line in lines:
            if b'"http_reqs"' not in line or b'"Point"' not in line:
                continue
            try:
                tags = json.loads(line).get("data", {}).get("tags", {})
            except (ValueError, AttributeError):  # a line cut short: skip it, count the rest
                continue
            if tags.get("scenario") != self.scenario:  # setup()'s smoke request is not the load
                continue
            requests += 1
            kind = error_kind(tags)
            if kind:
                errors[kind] = errors.get(kind, 0) + 1
        if not requests:
            return
        with self._lock:
            self.done += requests
            self.errors_total += sum(errors.values())
            if self.per_second and self.per_second[-1][0] == second:
                _, n, kinds = self.per_second.pop()
                requests += n
                errors = {k: errors.get(k, 0) + kinds.get(k, 0) for k in {*errors, *kinds}}
            self.per_second.append((second, requests, errors))

    def last_second(self, now: float | None = None) -> tuple[int, dict[str, int]]:
        """Requests and errors by kind in the last whole second (0 when k6 said nothing in it)."""
        wanted = int(now if now is not None else time.time()) - 1
        with self._lock:
            for second, requests, errors in self.per_second:
                if second == wanted:
                    return requests, dict(errors)
        return 0, {}


# -- the panel during a run ---------------------------------------------------------
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
