"""Every variable that steers the lab: each numeric knob's range, with the
reason, the others' meaning, and the parsers that enforce the ranges.

Values arrive as strings (make variables through the environment, or options):
they are checked here, before anything starts, so a bad value is one line and
exit code 2, never a traceback. The variables' reference, docs/variables.md,
is generated from RANGES and the CLI's options (`make docs`,
churnlab/cli/vardoc.py; tests/unit/test_vardoc.py fails when it is stale), and
the test suites drop every variable of STEERING from the environment they inherit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from churnlab.core.errors import LabError


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    why: str
    whole: bool = True  # whole numbers only


RANGES: dict[str, Range] = {
    "APP_PORT": Range(1024, 65535, "an unprivileged TCP port on 127.0.0.1 (below 1024 needs root)"),
    "PROM_PORT": Range(1024, 65535, "an unprivileged TCP port on 127.0.0.1 for Prometheus (OBSERVE=1)"),
    "HTTPS_PORT": Range(1024, 65535, "FRONT=https: the front's TCP port on 127.0.0.1 (below 1024 needs root)"),
    "FRONT_KEEPALIVE": Range(0, 1024, "FRONT=https: idle connections nginx keeps to gunicorn per worker; "
                             "0 = one per request"),
    "WORKERS": Range(1, 64, "gunicorn processes; beyond 64 a lab host only thrashes"),
    "THREADS": Range(1, 256, "threads per gthread worker; workers x threads stays below Postgres' 4096 connections"),
    "CONN_MAX_AGE": Range(0, 86400, "seconds Django keeps a DB connection; 0 = one per request, a day at most"),
    "WORKER_CONNECTIONS": Range(1, 100_000, "client connections each gunicorn worker holds at once; workers x this "
                                "must exceed the concurrency, or the rest wait in the listen backlog"),
    "GUNICORN_BACKLOG": Range(1, 65535, "gunicorn's listen backlog; the kernel caps it at net.core.somaxconn "
                              "(4,096 in a container)"),
    "VUS": Range(1, 5000, "concurrent k6 clients (ab -c); each is a JS runtime of a few MB, 10x the incident's 500"),
    "ITERATIONS": Range(1, 1_000_000, "requests per run (ab -n); a million already takes many minutes"),
    "SAMPLE_INTERVAL": Range(0.1, 60, "seconds between evidence samples; faster skews the load, slower misses it",
                             whole=False),
    "PGBOUNCER_POOL_SIZE": Range(1, 1000, "PgBouncer server connections per pool; below Postgres' max_connections"),
    "DIAG_SECONDS": Range(1, 300, "seconds the running lab or hosts are sampled"),
    # today's stack (psycopg 3): a variant's pool and prepared statements (config/presets.yml)
    "POOL_MIN_SIZE": Range(0, 1000, "pooled DB connections kept open per worker process, at most pool_max_size"),
    "POOL_MAX_SIZE": Range(1, 1000, "pooled DB connections per worker process; x workers stays below 4096"),
    "POOL_TIMEOUT": Range(0.1, 300, "seconds a request waits for a pooled connection before PoolTimeout",
                          whole=False),
    "PREPARE_THRESHOLD": Range(0, 1000, "psycopg 3 prepares a query after this many runs on one connection"),
    "LOADGENS": Range(1, 8, "k6 generators sharing one run by execution segments; each is a process of its own, "
                      "and 2 cores feed no more than 8"),
    "LOADGEN_PORT_RANGE": Range(1024, 65535, "the k6 generators' own ip_local_port_range, 'low high' "
                                "(default 1024 65535); a tiny range makes the generator run out"),
    "LOADGEN_CPUS": Range(0.05, 64, "CPUs each k6 generator may use (docker --cpus; unset = no limit); "
                          "a small share makes the generator short of CPU", whole=False),
    "CONN_HEALTH_CHECKS": Range(0, 1, "1: Django checks a persistent DB connection before reusing it "
                                "(survives a DB restart); 0: Django's default"),
    "FAULT_AT": Range(1, 3600, "seconds after the load starts that the fault begins (10s or 10); within an hour"),
    "FAULT_FOR": Range(1, 600, "seconds the fault lasts before it is undone; ten minutes at most"),
    "SCRAPE_INTERVAL": Range(1, 300, "seconds between Prometheus scrapes the alert rules are rendered for "
                             "(10 or 10s); every for: and window is a number of scrapes"),
    "FAULT_TAIL": Range(5, 600, "seconds the load goes on after the fault ends, to see the app recover: its last 3 "
                        "must all answer, and the undo and k6's whole seconds take up to 2 more"),
    "FAULT_DB_CPUS": Range(0.01, 64, "FAULT=db-slow: the CPUs the database may use while it lasts (above 0, at most "
                           "this machine's CPUs; docker's finest step is 0.01)", whole=False),
    "FAULT_LOSS_PCT": Range(0.01, 99.99, "FAULT=db-lossy: percent of the app's packets toward the database dropped "
                            "(above 0, below 100)", whole=False),
    "FAULT_DELAY_MS": Range(1, 10_000, "FAULT=db-slow: network delay added to the database's packets (netem); "
                            "refused on a kernel without netem"),
}

# Fields of a variant in config/presets.yml, checked with the same ranges; not make variables.
PRESET_FIELDS = ("POOL_MIN_SIZE", "POOL_MAX_SIZE", "POOL_TIMEOUT", "PREPARE_THRESHOLD")

# The variables that are not numbers (what each takes: the CLI's option help, docs/variables.md).
NAMED: tuple[str, ...] = (
    "VARIANT", "PROFILE", "WORKER_CLASS", "SCENARIO", "KEEPALIVE", "ENDPOINT", "RUN", "VARIANTS", "PROFILES",
    "VUS_LEVELS", "SERVICE", "PG_MAJOR", "FRONT", "OBSERVE", "INVENTORY", "CHECK", "CONFIRM", "CONFIRM_REPRO",
    "ANSIBLE_ARGS", "RANK_VARIANTS", "RANK_LEVELS", "RANK_ITERATIONS", "RANK_REPRO", "FAULT", "EX", "SEED", "CAUSE",
    "SNAPSHOT", "LIMIT", "RUNBOOK_BASE", "RULES_FILE", "REMOVE",
)
# Read from the caller's environment by compose and Ansible as they are, not exported by make.
ENVIRONMENT: tuple[str, ...] = ("PG_SIZING", "CHURNLAB_PRESETS")

# Every variable that steers the lab: the test suites never inherit them.
STEERING: tuple[str, ...] = (*(name for name in RANGES if name not in PRESET_FIELDS), *NAMED, *ENVIRONMENT)

# No range here needs more characters than this; a longer value is out of range before it is
# turned into a number (Python refuses to read an int of more than 4,300 digits).
MAX_CHARS = 24
_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def shown(text: str) -> str:
    """A value as the one line quotes it: whole, or its start and its length."""
    return repr(text) if len(text) <= MAX_CHARS else f"{text[:12]!r}... ({len(text):,} characters)"


def _out_of_range(name: str, text: str, label: str | None = None) -> LabError:
    r = RANGES[name]
    low, high = _fmt(r.low, r.whole), _fmt(r.high, r.whole)
    kind = "a whole number" if r.whole else "a number"
    return LabError(f"{label or name}={shown(text)} must be {kind} from {low} to {high}: {r.why}")


def number(name: str, text: object, label: str | None = None) -> int | float:
    """The value of knob `name`, checked against its range (ASCII digits only: '²' is refused).
    `label` names the variable in the message when it is not `name` (VUS_LEVELS uses VUS's range)."""
    raw = str(text).strip()
    r = RANGES[name]
    pattern = _WHOLE if r.whole else _DECIMAL
    if len(raw) > MAX_CHARS or not raw.isascii() or not pattern.fullmatch(raw):
        raise _out_of_range(name, raw, label)
    value: int | float = int(raw) if r.whole else float(raw)
    if not r.low <= value <= r.high:
        raise _out_of_range(name, raw, label)
    return value


def whole(name: str, text: object, label: str | None = None) -> int:
    return int(number(name, text, label))


def port_range(name: str, text: object) -> tuple[int, int]:
    """A 'low high' (or 'low-high') pair of ports, each in `name`'s range, low <= high."""
    raw = str(text).strip()
    r = RANGES[name]
    parts = re.split(r"[\s-]+", raw)
    if len(raw) > 2 * MAX_CHARS or len(parts) != 2 or not all(p.isascii() and _WHOLE.fullmatch(p) for p in parts):
        raise LabError(f"{name}={shown(raw)} must be two ports 'low high' from {_fmt(r.low, True)} to "
                       f"{_fmt(r.high, True)}: {r.why}")
    low, high = (int(p) for p in parts)
    if not r.low <= low <= high <= r.high:
        raise LabError(f"{name}={shown(raw)} must be two ports 'low high' from {_fmt(r.low, True)} to "
                       f"{_fmt(r.high, True)}, low <= high: {r.why}")
    return low, high


def seconds(name: str, text: object) -> int:
    """A duration in whole seconds, written 10 or 10s, checked against its range."""
    raw = str(text).strip()
    try:
        return whole(name, raw[:-1] if raw.endswith("s") and raw[:-1].isdigit() else raw)
    except LabError:
        raise _out_of_range(name, raw) from None


def cpus(name: str, text: object, available: int) -> float:
    """A share of CPUs in `name`'s range that this machine has: at most `available` CPUs."""
    value = float(number(name, text))
    if value > available:
        raise LabError(f"{name}={shown(str(text).strip())} must be a number above 0 and at most this machine's "
                       f"{available} CPUs: {RANGES[name].why}")
    return value


def split_list(text: str) -> list[str]:
    """A list given with commas, spaces or both: "direct gthread" == "direct,gthread"."""
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def describe() -> list[str]:
    """One line per knob: NAME low-high: why (for `churnlab variants` and `make help`)."""
    return [f"{name} {_fmt(r.low, r.whole)}-{_fmt(r.high, r.whole)}: {r.why}" for name, r in RANGES.items()]


def _fmt(value: float, whole: bool) -> str:
    return f"{int(value)}" if whole else f"{value:g}"
