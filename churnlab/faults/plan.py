"""A fault asked for: its kind, when and how long (Plan), checked before anything starts, and
whether it fits the running variant."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from churnlab.core import bounds
from churnlab.core.errors import LabError

KINDS = {
    "db-restart": "Postgres stopped (fast shutdown: every backend terminated), then started again",
    "db-pause": "Postgres frozen (docker pause): connections accepted by the kernel, nothing answered",
    "pgbouncer-kill": "PgBouncer killed (SIGKILL), then started again",
    "db-network-cut": "the app's route to the DB removed (unreachable) in its network namespace, then restored",
}
DEFAULTS = {"FAULT_AT": "10", "FAULT_FOR": "10", "FAULT_TAIL": "15"}
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

    @property
    def load_seconds(self) -> int:
        return self.at + self.duration + self.tail


def plan(kind: str, at: str = "", duration: str = "", tail: str = "") -> Plan | None:
    """FAULT and its times, checked before anything starts; None without FAULT."""
    kind = kind.strip()
    if not kind:
        for name, value in (("FAULT_AT", at), ("FAULT_FOR", duration), ("FAULT_TAIL", tail)):
            if value.strip():
                raise LabError(f"{name}={value.strip()!r} needs FAULT=<kind>; valid kinds: {', '.join(KINDS)}")
        return None
    if kind not in KINDS:
        raise LabError(f"unknown FAULT {kind!r}; valid FAULTs: {', '.join(KINDS)}")
    return Plan(kind, bounds.seconds("FAULT_AT", at.strip() or DEFAULTS["FAULT_AT"]),
                bounds.seconds("FAULT_FOR", duration.strip() or DEFAULTS["FAULT_FOR"]),
                bounds.seconds("FAULT_TAIL", tail.strip() or DEFAULTS["FAULT_TAIL"]))


def check_fits(chosen: Plan, variant: str, settings: dict[str, str], services: list[str]) -> None:
    """The fault makes sense on this lab (one line otherwise, nothing started)."""
    if chosen.kind == "pgbouncer-kill" and "pgbouncer" not in services:
        raise LabError(f"FAULT=pgbouncer-kill needs a PgBouncer variant (pgbouncer, pgbouncer-local, ...); "
                       f"the running lab is {variant!r}, which has no PgBouncer")
    if chosen.kind == "db-network-cut" and settings.get("DB_HOST", "db").startswith("/"):
        raise LabError(f"FAULT=db-network-cut cuts a TCP route, and {variant!r} reaches its DB over a Unix socket "
                       f"({settings['DB_HOST']}); use db-restart, db-pause or pgbouncer-kill")


def k6_args(chosen: Plan | None) -> list[str]:
    """k6's maxDuration for a fault run: the load covers the fault and FAULT_TAIL after it."""
    return ["-e", f"MAX_DURATION={chosen.load_seconds}s"] if chosen else []


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
