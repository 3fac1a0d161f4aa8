"""Count the app's failures by kind from its log lines.

The app logs one line per caught DB exception:
    ... ERROR roles healthz-db-error OperationalError: <first line of the message>
and gunicorn logs worker timeouts. Each line maps to a kind (the errno-level
cause) and, where the message names it, the target the connection was for.

An app the lab did not write has no marker: with anywhere=True (the probe,
churnlab.investigate) any line that matches one of the known KINDS counts, a
Django traceback's last line or PgBouncer's own log alike; lines matching no
kind are not failures there (an unknown app logs too much else to guess).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

MARKER = "healthz-db-error "

# (kind, pattern) in priority order; the first match names the kind.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EADDRNOTAVAIL: Cannot assign requested address", re.compile(r"Cannot assign requested address")),
    ("too many clients", re.compile(r"too many clients|remaining connection slots are reserved")),
    ("EAGAIN: Resource temporarily unavailable", re.compile(r"Resource temporarily unavailable")),
    ("ECONNREFUSED: Connection refused", re.compile(r"Connection refused")),
    ("timeout", re.compile(r"timeout expired|timed out|canceling statement due to statement timeout")),
    # -- faults mid-load (churnlab/faults/plan.py): what a DB that goes away looks like --
    (TERMINATED := "terminating connection due to administrator command",
     re.compile(r"terminating connection due to administrator command")),
    ("server closed the connection", re.compile(r"server closed the connection unexpectedly")),
    (DB_NOT_READY := "the database system is shutting down or starting up",
     re.compile(r"the database system is (shutting down|starting up|in recovery mode|not yet accepting)")),
    ("EHOSTUNREACH: No route to host", re.compile(r"No route to host")),
    ("name resolution: could not translate host name", re.compile(r"could not translate host name")),
    ("connection already closed", re.compile(r"connection already closed")),
    (PGBOUNCER_FULL := "pgbouncer: no more connections allowed", re.compile(r"no more connections allowed")),
    # today's stack (psycopg 3): psycopg_pool.PoolTimeout, which Django re-raises
    # as OperationalError, and prepared statements lost behind a transaction pooler
    (POOL_TIMEOUT := "pool timeout: couldn't get a connection",
     re.compile(r"couldn't get a connection after")),
    (PREPARED_MISSING := "prepared statement does not exist",
     re.compile(r'prepared statement "[^"]*" does not exist')),
    (PREPARED_EXISTS := "prepared statement already exists",
     re.compile(r'prepared statement "[^"]*" already exists')),
    # PgBouncer's pool saturated: a client waited query_wait_timeout for a server connection
    (PGBOUNCER_WAIT := "pgbouncer: query_wait_timeout", re.compile(r"query_wait_timeout")),
)
WORKER_TIMEOUT = re.compile(r"\[CRITICAL\] WORKER TIMEOUT")
# libpq names the host, then its address unless the host is an address itself.
TARGET_TCP = re.compile(r'server at "([^"]+)"(?: \([^)]*\))?, port (\d+)')
TARGET_SOCKET = re.compile(r'server on socket "([^"]+)"')
# The address libpq resolved the host to, when it names both: "db" (172.18.0.2), port 5432.
TARGET_RESOLVED = re.compile(r'server at "([^"]+)" \(([^)]+)\), port (\d+)')


@dataclass(frozen=True)
class ErrorKey:
    kind: str
    target: str  # "db:5432", "pgbouncer:6432", a socket path, or "" if unnamed

    def label(self) -> str:
        return f"{self.kind} (toward {self.target})" if self.target else self.kind


def _target(message: str) -> str:
    if m := TARGET_TCP.search(message):
        return f"{m.group(1)}:{m.group(2)}"
    if m := TARGET_SOCKET.search(message):
        return m.group(1)
    return ""


def _known(message: str) -> ErrorKey | None:
    for kind, pattern in KINDS:
        if pattern.search(message):
            return ErrorKey(kind, _target(message))
    return None


def classify(line: str, anywhere: bool = False) -> ErrorKey | None:
    """Return the kind of one log line, or None if it is not an error line (anywhere: a line
    without the app's marker counts when it matches a known kind)."""
    if WORKER_TIMEOUT.search(line):
        return ErrorKey("gunicorn worker timeout", "")
    at = line.find(MARKER)
    if at < 0:
        return _known(line) if anywhere else None
    message = line[at + len(MARKER):].strip()
    target = _target(message)
    if known := _known(message):
        return known
    exc_class, _, rest = message.partition(":")
    # Numbers and addresses vary per line; drop them so like joins like.
    rest = re.sub(r"\d+(\.\d+)*", "N", rest.strip())[:80]
    return ErrorKey(f"{exc_class}: {rest}" if rest else exc_class, target)


def count(lines, anywhere: bool = False) -> Counter[ErrorKey]:
    counts: Counter[ErrorKey] = Counter()
    for line in lines:
        key = classify(line, anywhere)
        if key is not None:
            counts[key] += 1
    return counts


def as_records(counts: Counter[ErrorKey]) -> list[dict]:
    return [{"kind": k.kind, "target": k.target, "count": n} for k, n in counts.most_common()]


_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")


def resolved_targets(lines) -> dict[str, str]:
    """{"db:5432": "172.18.0.2:5432"}: the addresses libpq named beside the hosts, so a
    sampled destination (an address) can carry the name the errors give it."""
    out: dict[str, str] = {}
    for line in lines:
        if m := TARGET_RESOLVED.search(line):
            out.setdefault(f"{m.group(1)}:{m.group(3)}", f"{m.group(2)}:{m.group(3)}")
    return out


def per_second(lines, anywhere: bool = False) -> list[dict]:
    """Errors by kind for each second (UTC epoch), from the lines' own timestamps."""
    from datetime import datetime, timezone

    buckets: dict[int, Counter[str]] = {}
    for line in lines:
        key = classify(line, anywhere)
        stamp = _STAMP.search(line) if key else None
        if not key or not stamp:
            continue
        second = int(datetime.strptime(stamp.group(1).replace("T", " "), "%Y-%m-%d %H:%M:%S")
                     .replace(tzinfo=timezone.utc).timestamp())
        buckets.setdefault(second, Counter())[key.label()] += 1
    return [{"ts": ts, "source": "app_errors", "total": sum(c.values()), "kinds": dict(c)}
            for ts, c in sorted(buckets.items())]
