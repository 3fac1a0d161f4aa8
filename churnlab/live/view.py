"""The live panel's figures and how they read: PanelState, rendered as a rich table
(render) or one plain line (plain_line). A pure function of the state, tested without a terminal."""
from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from churnlab.core.fmt import number as _n

BAR_WIDTH = 20
LABEL_WIDTH = 20
MAX_CONNECTIONS = "(max_connections)"  # the bound shown when the variant sets none


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
