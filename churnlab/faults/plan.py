"""A fault asked for: its kind, when and how long (Plan), checked before anything starts, and
whether it fits the running variant."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from churnlab.core import bounds, run_record
from churnlab.core.errors import LabError

KINDS = {
    "db-restart": "Postgres stopped (fast shutdown: every backend terminated), then started again",
    "db-pause": "Postgres frozen (docker pause): connections accepted by the kernel, nothing answered",
    "pgbouncer-kill": "PgBouncer killed (SIGKILL), then started again",
    "db-network-cut": "the app's route to the DB removed (unreachable) in its network namespace, then restored",
    # degradations: nothing dies, everything gets slower
    "db-slow": "Postgres given a fraction of a CPU (FAULT_DB_CPUS, its cgroup's CPU quota), then its quota restored",
    "db-lossy": "FAULT_LOSS_PCT percent of the app's packets toward the DB dropped (iptables statistic, in a chain "
                "of the lab's own), then the chain removed",
}
DEFAULTS = {"FAULT_AT": "10", "FAULT_FOR": "10", "FAULT_TAIL": "15", "FAULT_DB_CPUS": "0.05",
            "FAULT_LOSS_PCT": "10"}
# Which kind each degradation's own variable belongs to (given with any other kind, it is refused).
OWN_VARIABLES = {"FAULT_DB_CPUS": "db-slow", "FAULT_LOSS_PCT": "db-lossy", "FAULT_DELAY_MS": "db-slow"}
LOSSY_CHAIN = "CHURNLAB-LOSSY"  # the lab's own iptables chain: nothing of the owner's is touched
LAST_SECONDS = 3          # the final seconds of the load that must all answer 200
SLOW_MS = 1000.0          # a request slower than this, around a fault, counts as stalled
SETTLE_SECONDS = 30       # how long a service may take to be healthy again after the load
# Without ITERATIONS, a fault run is time-boxed by k6's maxDuration (at + for + tail), not by a count.
FAULT_ITERATIONS = 1_000_000


@dataclass(frozen=True)
class Plan:
    kind: str
    at: int
    duration: int
    tail: int
    db_cpus: float | None = None   # db-slow: CPUs the database keeps
    loss_pct: float | None = None  # db-lossy: percent of the app's packets toward the DB dropped
    delay_ms: int | None = None    # db-slow with netem: delay added to the DB's packets

    @property
    def load_seconds(self) -> int:
        return self.at + self.duration + self.tail


def plan(kind: str, at: str = "", duration: str = "", tail: str = "", db_cpus: str = "", loss_pct: str = "",
         delay_ms: str = "") -> Plan | None:
    """FAULT and its times, checked before anything starts; None without FAULT."""
    kind = kind.strip()
    own = {"FAULT_DB_CPUS": db_cpus.strip(), "FAULT_LOSS_PCT": loss_pct.strip(), "FAULT_DELAY_MS": delay_ms.strip()}
    if not kind:
        for name, value in (("FAULT_AT", at), ("FAULT_FOR", duration), ("FAULT_TAIL", tail), *own.items()):
            if value.strip():
                raise LabError(f"{name}={value.strip()!r} needs FAULT=<kind>; valid kinds: {', '.join(KINDS)}")
        return None
    if kind not in KINDS:
        raise LabError(f"unknown FAULT {kind!r}; valid FAULTs: {', '.join(KINDS)}")
    for name, value in own.items():
        if value and OWN_VARIABLES[name] != kind:
            raise LabError(f"{name}={bounds.shown(value)} goes with FAULT={OWN_VARIABLES[name]}, not FAULT={kind}")
    chosen = Plan(kind, bounds.seconds("FAULT_AT", at.strip() or DEFAULTS["FAULT_AT"]),
                  bounds.seconds("FAULT_FOR", duration.strip() or DEFAULTS["FAULT_FOR"]),
                  bounds.seconds("FAULT_TAIL", tail.strip() or DEFAULTS["FAULT_TAIL"]))
    if kind == "db-slow":
        delay = bounds.whole("FAULT_DELAY_MS", own["FAULT_DELAY_MS"]) if own["FAULT_DELAY_MS"] else None
        chosen = replace(chosen, delay_ms=delay,
                         db_cpus=bounds.cpus("FAULT_DB_CPUS", own["FAULT_DB_CPUS"] or DEFAULTS["FAULT_DB_CPUS"],
                                             os.cpu_count() or 1))
    elif kind == "db-lossy":
        chosen = replace(chosen, loss_pct=float(bounds.number("FAULT_LOSS_PCT",
                                                              own["FAULT_LOSS_PCT"] or DEFAULTS["FAULT_LOSS_PCT"])))
    return chosen


def require_netem(chosen: Plan | None) -> None:
    """FAULT_DELAY_MS in the compose lab, refused with one line where this machine's kernel (the db
    container's) has no netem; never silently ignored. Asked only when a delay is given. The lab hosts
    ask their db host instead (churnlab.hosts.faults)."""
    if chosen is not None and chosen.delay_ms and (missing := netem_missing()):
        raise LabError(f"FAULT_DELAY_MS={chosen.delay_ms} needs the kernel's netem qdisc, and this kernel has none "
                       f"({missing}); FAULT=db-slow without it slows the DB by CPU alone")


def netem_missing() -> str | None:
    """Why this kernel cannot delay packets with netem (tc's own words), or None where it can: a netem
    qdisc put on the loopback of a throwaway network namespace, which vanishes with it."""
    if not shutil.which("tc") or not shutil.which("unshare"):
        return "tc (iproute2) or unshare (util-linux) is not installed to check"
    user = [] if os.geteuid() == 0 else ["--map-root-user"]  # a namespace of its own, root in it
    proc = subprocess.run(["unshare", "--net", *user, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                           "1ms"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if proc.returncode == 0:
        return None
    said = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1].removeprefix("Error: ")
    return f"tc qdisc add ... netem: {said.rstrip('.')}"


def describe(chosen: Plan) -> str:
    """The degradation's own setting, in words ('' for the other kinds)."""
    return run_record.degradation_setting(chosen.kind, chosen.db_cpus, chosen.loss_pct, chosen.delay_ms)


def check_fits(chosen: Plan, variant: str, settings: dict[str, str], services: list[str]) -> None:
    """The fault makes sense on this lab (one line otherwise, nothing started)."""
    if chosen.kind == "pgbouncer-kill" and "pgbouncer" not in services:
        raise LabError(f"FAULT=pgbouncer-kill needs a PgBouncer variant (pgbouncer, pgbouncer-local, ...); "
                       f"the running lab is {variant!r}, which has no PgBouncer")
    if chosen.kind in ("db-network-cut", "db-lossy") and settings.get("DB_HOST", "db").startswith("/"):
        verb = "cuts a TCP route" if chosen.kind == "db-network-cut" else "drops TCP packets"
        raise LabError(f"FAULT={chosen.kind} {verb}, and {variant!r} reaches its DB over a Unix socket "
                       f"({settings['DB_HOST']}); use db-restart, db-pause, db-slow or pgbouncer-kill")


def k6_args(chosen: Plan | None) -> list[str]:
    """k6's maxDuration for a fault run: the load covers the fault and FAULT_TAIL after it."""
    return ["-e", f"MAX_DURATION={chosen.load_seconds}s"] if chosen else []


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
