"""The cases a verdict names, and what a verdict is: its case, headline, evidence and fixes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from churnlab.core import fmt

__all__ = ["PORT_EXHAUSTION_POSTGRES", "PORT_EXHAUSTION_PGBOUNCER", "MAX_CONNECTIONS", "SOCKET_BACKLOG", "POOL_TIMEOUT",
           "PREPARED_STATEMENTS", "PGBOUNCER_POOL", "CONNECTION_LEAK", "HEALTHY", "UNCLASSIFIED", "LOADGEN_LIMITED",
           "GREENLET_CHURN", "OWN_CASES", "Fix", "Verdict"]

PORT_EXHAUSTION_POSTGRES = "port-exhaustion-postgres"
PORT_EXHAUSTION_PGBOUNCER = "port-exhaustion-pgbouncer"
MAX_CONNECTIONS = "max-connections"
SOCKET_BACKLOG = "socket-backlog"
POOL_TIMEOUT = "pool-timeout"
PREPARED_STATEMENTS = "prepared-statements-pgbouncer"
PGBOUNCER_POOL = "pgbouncer-pool-saturation"  # PgBouncer refused or timed out its clients: its pool was full
# Connections kept open after their request and never reused (ASGI with CONN_MAX_AGE > 0): more idle in
# pg_stat_activity than requests that can use one at once; they fill the ports or max_connections.
CONNECTION_LEAK = "connection-leak"
HEALTHY = "healthy"
UNCLASSIFIED = "unclassified"
LOADGEN_LIMITED = "loadgen-limited"  # the load generator was the limit: the measurement is not valid

# Greenlet-local churn: port-exhaustion-postgres whose cause is CONN_MAX_AGE > 0 under
# eventlet/gevent without HTTP keep-alive (each request a new greenlet with its own
# connection). The verdict stays port-exhaustion-postgres and names it in its cause
# (_cause); training mode asks the trainee for this finer answer (the keep-alive trap).
GREENLET_CHURN = "greenlet-churn"


EADDRNOTAVAIL = "EADDRNOTAVAIL"
EAGAIN = "EAGAIN"
TOO_MANY = "too many clients"

# The lab's own cases (not the generator's, not a fault's).
OWN_CASES = (PORT_EXHAUSTION_POSTGRES, PORT_EXHAUSTION_PGBOUNCER, MAX_CONNECTIONS, SOCKET_BACKLOG, POOL_TIMEOUT,
             PREPARED_STATEMENTS, PGBOUNCER_POOL, CONNECTION_LEAK)


@dataclass
class Fix:
    action: str
    shown_by: str  # the lab's demonstration: "VARIANT=gthread", "PROFILE=tuned"
    measured: str = ""  # where the latest rank (results/rank-*/rank.json) put it, if it measured it


@dataclass
class Verdict:
    case: str
    headline: str
    evidence: list[str] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [self.headline]
        lines += [f"  - {line}" for line in self.evidence]
        if self.fixes:
            lines.append("fixes, best first:")
            lines += [f"  {i}. {fix.action} (shown by {fix.shown_by}{'; ' + fix.measured if fix.measured else ''})"
                      for i, fix in enumerate(self.fixes, 1)]
        return "\n".join(lines)


def _n(value) -> str:
    """A figure in a verdict: every digit, thousands separated; "?" when it was not measured."""
    return fmt.number(value, ",", "?")


def _count(errors: list[dict], kind: str, target_pred=lambda t: True) -> int:
    return sum(e["count"] for e in errors if kind in e["kind"] and target_pred(e.get("target", "")))


def _is_pgbouncer(target: str) -> bool:
    return "bouncer" in target or target.endswith(":6432") or target.endswith(".s.PGSQL.6432")


