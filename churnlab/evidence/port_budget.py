"""The ephemeral-port budget of a run, per destination ip:port.

A connect() to a destination takes a local port from ip_local_port_range;
the kernel needs the 4-tuple to be unique, so the whole range is available
toward each destination ip:port separately. The side that closes first (here
the app: libpq sends Terminate and closes) keeps the port in TIME_WAIT for
60 s. So toward one destination, the new connections opened within any 60 s
need that many ports at once: a rate r sustained for 60 s needs r x 60
ports, and the range recycles at most range / 60 new connections per second
(28,232 / 60 = 470/s with the kernel's default range, 1,000 / 60 = 16/s with
the lab's repro profile). That is why "c=500 is fine": concurrency is not the
limit, the rate of new connections per destination is.

Measuring new connections per destination (sockets.py, once a second, in the
app's network namespace):
- the outgoing sockets toward the destination present in a sample and absent
  from the previous one (`targets[t].new`). Every connection that completed
  and was closed by the app stays visible for 60 s in TIME_WAIT, far longer
  than the sample interval, so it is seen, and it is exactly the kind that
  holds a port. What it can miss: a connection opened and gone between two
  samples without TIME_WAIT (refused, reset) and, with tcp_tw_reuse, a new
  connection that took over a TIME_WAIT 4-tuple already seen;
- the namespace's Tcp ActiveOpens counter (/proc/net/snmp), exact but for all
  destinations together. When its increase is larger than the new outgoing
  sockets seen (`new_active`), the difference is what the set comparison
  missed; it is shared out in proportion to each destination's new sockets.
  It never scales down: the sockets were seen.
- connect() calls that found no port (EADDRNOTAVAIL, from the app's log,
  per second) never got a port, so neither count has them; they are added as
  demand: the budget is about the connections the app asked for.

Per destination this gives: the peak rate over a short sliding window
(RATE_WINDOW) and the mean over the seconds with traffic; the most new
connections asked for within one TIME_WAIT (a sliding TIME_WAIT_SECONDS
window), which is the ports needed; the range; the headroom (range - needed;
negative: it ran out). The forecast: the first sample whose short-window rate,
sustained for 60 s, needs more than the range (the budget crossed zero, at
that rate), and from there, at the observed fill rate of the ports in use
toward the destination, the predicted time the range is full, to set against
the first EADDRNOTAVAIL the app logged (and the rate then). Times are seconds
since the first sample. Standard library only, so it can run on a host too.
"""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, fields

from churnlab.evidence import app_errors

# Linux's TIME_WAIT length: TCP_TIMEWAIT_LEN (60 s) in include/net/tcp.h, fixed
# at build time, not a sysctl (tcp_fin_timeout is FIN-WAIT-2's timeout).
TIME_WAIT_SECONDS = 60.0
RATE_WINDOW = 5.0  # seconds: the sliding window of the peak rate and the forecast
ADDRESS_ERROR = app_errors.KINDS[0][0]  # "EADDRNOTAVAIL: Cannot assign requested address"


@dataclass
class PortBudget:
    target: str                          # the name the app connects to: "db:5432"
    address: str                         # the ip:port it resolved to
    range_size: int                      # ip_local_port_range, ports
    sustainable_rate: float              # range / TIME_WAIT: new connections/s the range recycles
    new_connections: int                 # connections that got a port during the run
    failed_connections: int              # connect() calls that found none (EADDRNOTAVAIL)
    peak_rate: float                     # new connections/s asked for, peak over RATE_WINDOW
    mean_rate: float                     # the same, mean over the seconds with traffic
    ports_needed: int                    # the most asked for within one TIME_WAIT
    headroom: int                        # range_size - ports_needed; < 0: the range ran out
    crossed_at: float | None = None      # s: the peak-window rate first needed more than the range
    crossed_rate: float | None = None    # new connections/s then
    in_use_at_crossing: int | None = None  # local ports in use toward it then
    fill_rate: float | None = None       # ports/s the in-use count grew by then
    predicted_exhaustion_at: float | None = None  # s: where the range runs out, at that fill rate
    first_error_at: float | None = None  # s: the first EADDRNOTAVAIL toward it
    first_error_rate: float | None = None  # new connections/s then
    time_wait_seconds: float = TIME_WAIT_SECONDS
    rate_window: float = RATE_WINDOW
    t0: float | None = None              # epoch seconds of the first sample

    @property
    def runs_out(self) -> bool:
        return self.headroom < 0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PortBudget:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def text(self) -> str:
        if not self.new_connections and not self.failed_connections:
            return (f"port budget toward {self.target}: no new connections while sampled, so no rate to "
                    f"forecast from; the ports it holds now are counted above")
        failed = f" (+{self.failed_connections:,} that found no port)" if self.failed_connections else ""
        line = (f"port budget toward {self.target} ({self.address}): {self.peak_rate:,.0f} new connections/s "
                f"at peak ({self.rate_window:g} s window), {self.mean_rate:,.0f}/s mean{failed}; "
                f"{self.ports_needed:,} within one TIME_WAIT ({self.time_wait_seconds:g} s) need "
                f"{self.ports_needed:,} ports of {self.range_size:,}: headroom {self.headroom:,}; "
                f"the range recycles {self.sustainable_rate:,.1f} new connections/s")
        return line

    def forecast_text(self) -> str | None:
        """The budget's crossing, prediction and first error, when there is one."""
        parts = []
        if self.crossed_at is not None and not self.runs_out and self.first_error_at is None:
            return (f"toward {self.target}: the rate passed {self.sustainable_rate:,.1f}/s at {self.crossed_at:.1f} s "
                    f"({self.crossed_rate:,.0f} new connections/s) but not for long enough to fill the range")
        if self.crossed_at is not None:
            parts.append(f"the budget crossed zero at {self.crossed_at:.1f} s, at {self.crossed_rate:,.0f} "
                         f"new connections/s (over {self.sustainable_rate:,.1f}/s)")
        if self.predicted_exhaustion_at is not None:
            parts.append(f"{self.in_use_at_crossing:,} ports in use then, filling at {self.fill_rate:,.0f}/s: "
                         f"exhaustion predicted at {self.predicted_exhaustion_at:.1f} s")
        if self.first_error_at is not None:
            parts.append(f"first EADDRNOTAVAIL at {self.first_error_at:.1f} s, at {self.first_error_rate:,.0f} "
                         "new connections/s")
        elif self.runs_out:
            parts.append("no EADDRNOTAVAIL was logged")
        return f"toward {self.target}: " + "; ".join(parts) if parts else None


def _address_errors(records: list[dict], target: str, only_target: bool,
                    address: str = "") -> list[tuple[float, int]]:
    """(second's middle, count) of EADDRNOTAVAIL toward the target, from app_errors records: named
    as the target (psycopg2 names the host) or as its sampled address (psycopg 3 names the IP)."""
    named = {app_errors.ErrorKey(ADDRESS_ERROR, t).label() for t in (target, address) if t}
    out = []
    for r in records:
        if r.get("source") != "app_errors":
            continue
        n = sum(count for label, count in (r.get("kinds") or {}).items()
                if label in named or (only_target and label == ADDRESS_ERROR))
        if n:
            out.append((float(r["ts"]) + 0.5, n))
    return out


def compute(records: list[dict]) -> list[PortBudget]:
    """The budget of every sampled destination, from evidence records (any order)."""
    netns = _distinct_times(sorted((r for r in records if r.get("source") == "netns"), key=lambda r: float(r["ts"])))
    if not netns:
        return []
    times = [float(r["ts"]) for r in netns]
    t0 = times[0]
    names = list(netns[-1].get("targets") or {})
    budgets = []
    for name in names:
        if all(r["targets"].get(name, {}).get("new") is None for r in netns):
            continue  # a sampler without new-connection counts (one snapshot, or before they existed)
        address = str((netns[-1]["targets"].get(name) or {}).get("address") or "")
        budget = _one(name, netns, times, _address_errors(records, name, len(names) == 1, address))
        budget.t0 = t0
        budgets.append(budget)
    return budgets


def _distinct_times(netns: list[dict]) -> list[dict]:
    """One sample per instant: a sample taken at the same time as the one before it (a clock that
    stepped) is folded into it, its new connections added, so no interval is zero seconds long."""
    out: list[dict] = []
    for record in netns:
        if out and float(record["ts"]) <= float(out[-1]["ts"]):
            before = out[-1].get("targets") or {}
            targets = {name: {**t, "new": None if t.get("new") is None and before.get(name, {}).get("new") is None
                              else (t.get("new") or 0) + (before.get(name, {}).get("new") or 0)}
                       for name, t in (record.get("targets") or {}).items()}
            out[-1] = {**record, "ts": out[-1]["ts"], "targets": targets}
        else:
            out.append(record)
    return out


def _one(name: str, netns: list[dict], times: list[float], errors: list[tuple[float, int]]) -> PortBudget:
    last = netns[-1]
    info = last["targets"][name]
    size = int(last.get("port_range_size") or 0)
    n = len(netns)
    opens = [0.0] * n   # per interval i: (times[i-1], times[i]]
    for i in range(1, n):
        opens[i] = float(netns[i]["targets"].get(name, {}).get("new") or 0)
    opens = [x * _missed_factor(netns) for x in opens]
    failed = [0] * n
    for ts, count in errors:
        if n < 2 or not times[0] - 1 <= ts <= times[-1] + 1:
            continue  # outside the sampled time: nothing to set it against
        failed[min(max(bisect.bisect_left(times, ts), 1), n - 1)] += count
    demand = [opens[i] + failed[i] for i in range(n)]
    busy = [i for i in range(1, n) if demand[i] > 0]
    first_busy = busy[0] if busy else n

    def window_start(i: int, width: float, floor: int) -> int:
        """The sample a window of `width` seconds ending at sample i starts from, not before `floor`."""
        j = i - 1
        while j > floor and times[j - 1] >= times[i] - width - 0.1:  # 0.1 s: sampling jitter
            j -= 1
        return max(j, 0)

    # Traffic began somewhere inside the first interval that saw any: rates and
    # fill are measured from its end, the ports needed from its start. The peak
    # counts that interval too (its rate was at least what it saw over its
    # length), so it is never below the mean: a warm-up burst is its peak.
    rates = [0.0] * n
    peak = 0.0
    needed = 0.0
    for i in range(1, n):
        if i > first_busy:
            j = window_start(i, RATE_WINDOW, first_busy)
            rates[i] = sum(demand[j + 1:i + 1]) / (times[i] - times[j])
        if i >= first_busy:
            j = window_start(i, RATE_WINDOW, first_busy - 1)
            peak = max(peak, rates[i], sum(demand[j + 1:i + 1]) / (times[i] - times[j]))
        needed = max(needed, sum(demand[window_start(i, TIME_WAIT_SECONDS, first_busy - 1) + 1:i + 1]))
    active_span = times[busy[-1]] - times[busy[0] - 1] if busy else 0.0
    ports_needed = round(needed)
    budget = PortBudget(
        target=name, address=str(info.get("address", "?")), range_size=size,
        sustainable_rate=round(size / TIME_WAIT_SECONDS, 2),
        new_connections=round(sum(opens)), failed_connections=sum(failed),
        peak_rate=round(peak, 1), mean_rate=round(sum(demand) / active_span, 1) if active_span else 0.0,
        ports_needed=ports_needed, headroom=size - ports_needed)
    crossing = next((i for i in range(1, n) if rates[i] * TIME_WAIT_SECONDS > size), None)
    if crossing is not None:
        budget.crossed_at = round(times[crossing] - times[0], 1)
        budget.crossed_rate = round(rates[crossing], 1)
    if crossing is not None and budget.runs_out:
        in_use = [int(r["targets"].get(name, {}).get("local_ports", 0)) for r in netns]
        j = window_start(crossing, RATE_WINDOW, first_busy)
        span = times[crossing] - times[j]
        fill = (in_use[crossing] - in_use[j]) / span if span > 0 else 0.0
        fill = fill if fill > 0 else rates[crossing]
        budget.in_use_at_crossing = in_use[crossing]
        budget.fill_rate = round(fill, 1)
        budget.predicted_exhaustion_at = round(times[crossing] - times[0] + max(0, size - in_use[crossing]) / fill, 1)
    if errors_in := [ts for ts, _ in errors if times[0] - 1 <= ts <= times[-1] + 1]:
        first = min(errors_in)
        budget.first_error_at = round(max(first - 0.5 - times[0], 0.0), 1)  # the logged second's start
        budget.first_error_rate = round(rates[min(max(bisect.bisect_left(times, first), 1), n - 1)], 1)
    return budget


# Connections out of the namespace that no sample can see and no target asked for: the app's
# health check (a loopback connection a second in the compose lab, open and closed between two
# samples), a host's own agents. Up to this many a second are not taken for missed ones.
BACKGROUND_OPENS_PER_S = 1.0


def _missed_factor(netns: list[dict]) -> float:
    """ActiveOpens' increase over the new outgoing sockets seen, over the whole
    run (per interval the two reads race by milliseconds and the difference is
    noise), less the background's: > 1 when the set comparison missed connections,
    else 1. (ActiveOpens counts every destination: a bounded pool's 798 connections
    beside 23 s of health checks are 798, not 812.)"""
    counters = [r.get("active_opens") for r in netns]
    if not all(isinstance(c, int) for c in counters):
        return 1.0
    seen = sum(r.get("new_active") or 0 for r in netns[1:])
    span = float(netns[-1]["ts"]) - float(netns[0]["ts"])
    counted = counters[-1] - counters[0] - BACKGROUND_OPENS_PER_S * span
    return counted / seen if seen and counted > seen else 1.0


def from_record(data: list[dict] | None) -> list[PortBudget]:
    return [PortBudget.from_dict(d) for d in data or []]


def lines(budgets: list[PortBudget]) -> list[str]:
    """What the verdict shows: the destinations with traffic (or the first one)."""
    shown = [b for b in budgets if b.new_connections or b.failed_connections] or budgets[:1]
    out = []
    for b in shown:
        out.append(b.text())
        if forecast := b.forecast_text():
            out.append(forecast)
    return out


def main_budget(budgets: list[PortBudget]) -> PortBudget | None:
    """The destination that asked for the most ports (the one a report's row shows)."""
    return max(budgets, key=lambda b: (b.ports_needed, -budgets.index(b)), default=None)


def reuse_note(tcp_tw_reuse) -> str | None:
    """What net.ipv4.tcp_tw_reuse changes in the budget above (which counts TIME_WAIT as held)."""
    if str(tcp_tw_reuse) == "1":
        return ("tcp_tw_reuse=1: a new outgoing connection may take over a port in TIME_WAIT (older than "
                "1 s, with TCP timestamps), so the budget above is the limit without that reuse")
    if str(tcp_tw_reuse) == "2":
        return ("tcp_tw_reuse=2 (the kernel's default): TIME_WAIT ports are reused toward loopback only; "
                "toward any other address the budget above holds")
    return None
