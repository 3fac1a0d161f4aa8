"""A verdict in plain words, with the numbers behind it.

Reads a run folder (run.json + evidence.jsonl) or live evidence, reduces it to
Facts, and names the mechanism: which of the lab's cases this is, why, and the
fixes that apply, ranked, each with the lab variant or profile that shows it.
Standard library only, so it can run on a real host too.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from churnlab.core import run_record
from churnlab.evidence import app_errors, k6_merge, port_budget

PORT_EXHAUSTION_POSTGRES = "port-exhaustion-postgres"
PORT_EXHAUSTION_PGBOUNCER = "port-exhaustion-pgbouncer"
MAX_CONNECTIONS = "max-connections"
SOCKET_BACKLOG = "socket-backlog"
POOL_TIMEOUT = "pool-timeout"
PREPARED_STATEMENTS = "prepared-statements-pgbouncer"
HEALTHY = "healthy"
UNCLASSIFIED = "unclassified"
LOADGEN_LIMITED = "loadgen-limited"  # the load generator was the limit: the measurement is not valid
# -- training mode's answers (churnlab/training): begin --
# Greenlet-local churn: port-exhaustion-postgres whose cause is CONN_MAX_AGE > 0 under
# eventlet/gevent without HTTP keep-alive (each request a new greenlet with its own
# connection). The verdict stays port-exhaustion-postgres and names it in its cause
# (_cause); training mode asks the trainee for this finer answer (the keep-alive trap).
GREENLET_CHURN = "greenlet-churn"
# -- training mode's answers: end --

EADDRNOTAVAIL = "EADDRNOTAVAIL"
EAGAIN = "EAGAIN"
TOO_MANY = "too many clients"


@dataclass
class Facts:
    settings: dict = field(default_factory=dict)      # WORKER_CLASS, WORKERS, THREADS, CONN_MAX_AGE, DB_HOST, DB_PORT
    variant: str | None = None
    profile: str | None = None
    keepalive: bool | None = None
    requests: int | None = None
    failed: int | None = None
    errors: list[dict] = field(default_factory=list)  # [{kind, target, count}]
    port_range_size: int | None = None
    tcp_tw_reuse: int | None = None
    peak_ports_in_use: int | None = None
    peak_port_use_pct: float | None = None
    peak_time_wait: int | None = None
    peak_tw_by_target: dict[str, int] = field(default_factory=dict)
    peak_db_backends: int | None = None
    max_connections: int | None = None
    peak_pgbouncer_servers: int | None = None
    port_budget: list[port_budget.PortBudget] = field(default_factory=list)  # per sampled destination
    # the load generators (run.json's load.per_loadgen): what k6 itself met
    loadgens: int = 1
    loadgen_errors: dict[str, int] = field(default_factory=dict)  # k6's own errors by kind, every generator
    dropped_iterations: int = 0
    loadgen_port_range: str = ""
    loadgen_cpu_busy: dict[str, float] = field(default_factory=dict)  # generator: its cpu_busy, where measured
    loadgen_cpu_throttled: dict[str, float] = field(default_factory=dict)  # generator: its cpu_throttled
    loadgen_cpus: str = ""
    fault: dict | None = None  # run_record.Fault as a dict, when the run had FAULT=...


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
    return "?" if value is None else f"{value:,}"


def _count(errors: list[dict], kind: str, target_pred=lambda t: True) -> int:
    return sum(e["count"] for e in errors if kind in e["kind"] and target_pred(e.get("target", "")))


def _is_pgbouncer(target: str) -> bool:
    return "bouncer" in target or target.endswith(":6432") or target.endswith(".s.PGSQL.6432")


def _cause(facts: Facts, toward_pgbouncer: bool) -> str:
    s = facts.settings
    age = s.get("CONN_MAX_AGE", "?")
    if toward_pgbouncer:
        return (f"the app still opens a new TCP connection per request, now to PgBouncer (CONN_MAX_AGE={age}); "
                "pooling protects Postgres but not the app host's ephemeral ports")
    if age == "0":
        return f"a new DB connection per request (CONN_MAX_AGE=0) with {s.get('WORKER_CLASS', '?')} workers"
    if s.get("WORKER_CLASS") in ("eventlet", "gevent"):
        ka = "with no HTTP keep-alive" if not facts.keepalive else "with keep-alive"
        return (f"greenlet-local connections under {s['WORKER_CLASS']} {ka}: each request is a new greenlet "
                f"with its own connection, so CONN_MAX_AGE={age} cannot reuse it")
    return f"more new connections per second than the port range can recycle (CONN_MAX_AGE={age})"


# -- rank order: begin (the fixes follow the latest `make rank`) -------------------
RANK_RESULTS: Path | None = None  # where rank-*/rank.json are looked for; None: the checkout's results/


def measured_order(results: Path | None = None) -> list[tuple[str, str]]:
    """[(shown_by, what was measured)] best first, from the latest results/rank-*/rank.json; [] if none."""
    if results is None:
        results = RANK_RESULTS
    if results is None:
        try:
            from churnlab.core.paths import RESULTS_DIR as results
        except ImportError:  # a copy of this module on a host, without the checkout
            return []
    found = sorted(results.glob("rank-*/rank.json"))
    if not found:
        return []
    try:
        data = json.loads(found[-1].read_text())
        total = len(data["candidates"])
        return [(c["shown_by"], f"rank {i} of {total} in rank-{data['rank_id']}: healthz/ping "
                 f"{(c['summary']['min_ratio'] or 0):.2f} at worst, {100 * c['summary']['max_error_rate']:.1f}% errors")
                for i, c in enumerate(data["candidates"], 1) if c.get("shown_by")]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def follow_ranking(fixes: list[Fix], order: list[tuple[str, str]]) -> list[Fix]:
    """The fixes the rank measured first, in its order; the others after, in their static order.
    A candidate with knobs ("VARIANT=gthread WORKERS=4 ...") places the fix its variant shows."""
    position: dict[str, tuple[int, str]] = {}
    for i, (shown_by, what) in enumerate(order):
        position.setdefault(shown_by.split()[0], (i, what))
    placed = []
    for j, fix in enumerate(fixes):
        key = fix.shown_by.split()[0] if len(fix.shown_by.split()) == 1 else fix.shown_by
        i, what = position.get(key, (len(order) + j, ""))
        placed.append((i, Fix(fix.action, fix.shown_by, what)))
    return [fix for _, fix in sorted(placed, key=lambda p: p[0])]
# -- rank order: end ------------------------------------------------------------------


def _fixes(case: str, facts: Facts, order: list[tuple[str, str]] | None = None) -> list[Fix]:
    candidates = {
        PORT_EXHAUSTION_POSTGRES: [
            Fix("bound and reuse DB connections: gunicorn gthread with CONN_MAX_AGE > 0 "
                "(connections <= workers x threads)", "VARIANT=gthread"),
            Fix("PgBouncer beside the app over a Unix socket: no ephemeral port per connection",
                "VARIANT=pgbouncer-local"),
            Fix("widen net.ipv4.ip_local_port_range and set net.ipv4.tcp_tw_reuse=1 on the app host",
                "PROFILE=tuned"),
        ],
        PORT_EXHAUSTION_PGBOUNCER: [
            Fix("move PgBouncer beside the app and connect over its Unix socket", "VARIANT=pgbouncer-local"),
            Fix("keep connections to PgBouncer open: gthread workers with CONN_MAX_AGE > 0",
                "VARIANT=pgbouncer WORKER_CLASS=gthread WORKERS=20 THREADS=40 CONN_MAX_AGE=600"),
            Fix("widen net.ipv4.ip_local_port_range and set net.ipv4.tcp_tw_reuse=1 on the app host",
                "PROFILE=tuned"),
        ],
        MAX_CONNECTIONS: [
            Fix("pool server connections with PgBouncer (transaction pooling)", "VARIANT=pgbouncer-local"),
            Fix("bound the app's connections below max_connections: workers x threads", "VARIANT=gthread"),
        ],
        SOCKET_BACKLOG: [
            Fix("connect less often: persistent connections from a bounded thread pool", "VARIANT=gthread"),
            Fix("raise PgBouncer's listen_backlog together with net.core.somaxconn", "PROFILE=tuned"),
        ],
        # -- today's stack (psycopg 3) --
        POOL_TIMEOUT: [
            Fix("size the pool to the concurrency: pool max_size >= threads per worker "
                "(DB connections = workers x max_size, below max_connections)", "VARIANT=native-pool"),
            Fix("under gevent, bound the connections per worker with django-db-geventpool "
                "(MAX_CONNS; requests queue instead of failing)", "VARIANT=gevent-pool"),
        ],
        PREPARED_STATEMENTS: [
            Fix("OPTIONS {'prepare_threshold': None} (Django's own default): psycopg 3 never prepares, any server "
                "connection serves (with DISABLE_SERVER_SIDE_CURSORS=True for .iterator())",
                "VARIANT=pgbouncer-today-fixed"),
            Fix("keep Django's default client-side binding (server_side_binding off): it never prepares",
                "VARIANT=native-pool"),
            Fix("PgBouncer >= 1.21 with max_prepared_statements > 0 (bookworm ships 1.18, without it)",
                "not in the lab: bookworm's PgBouncer 1.18"),
        ],
    }.get(case, [])
    here = {f"VARIANT={facts.variant}", f"PROFILE={facts.profile}"}
    chosen = [fix for fix in candidates if fix.shown_by not in here]
    return follow_ranking(chosen, measured_order() if order is None else order)


def diagnose(facts: Facts) -> Verdict:
    """The case, and the port budget of each destination in its evidence."""
    verdict = _loadgen_limit(facts) or _classify(facts)
    if facts.fault:
        verdict = with_fault(facts, verdict)
    verdict.evidence += port_budget.lines(facts.port_budget)
    return verdict


# -- load generators (issue 12): begin ---------------------------------------------
# A generator that used this share of the CPU it could use (its limit, or the machine's
# cores), or that hit its CPU limit in this share of the kernel's periods, was short of
# CPU: its requests went out and its answers were read late.
LOADGEN_CPU_BUSY = 0.9
LOADGEN_CPU_THROTTLED = 0.5


def _starved(facts: Facts) -> list[str]:
    """The generators short of CPU."""
    return sorted({name for name, busy in facts.loadgen_cpu_busy.items() if busy >= LOADGEN_CPU_BUSY}
                  | {name for name, share in facts.loadgen_cpu_throttled.items() if share >= LOADGEN_CPU_THROTTLED})


def loadgen_reasons(facts: Facts) -> list[str]:
    """Why the generators were the limit (their own ports, VUs or time, CPU); [] when they were not.
    The verdict loadgen-limited and training's "a valid measurement" both judge by it."""
    ports = facts.loadgen_errors.get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0)
    dropped = facts.dropped_iterations
    starved = _starved(facts)
    requests = f" of {_n(facts.requests)}" if facts.requests else ""
    reasons = []
    if ports:
        reasons.append(f"k6 itself failed {_n(ports)}{requests} requests with 'cannot assign requested "
                       f"address' (EADDRNOTAVAIL on the generator): it ran out of its own ephemeral ports "
                       + (f"(ip_local_port_range {facts.loadgen_port_range})" if facts.loadgen_port_range
                          else "(its ip_local_port_range as it was)"))
    if dropped:
        reasons.append(f"k6 dropped {_n(dropped)} iterations: too few VUs or too little time for the load asked")
    if starved:
        cores = f"LOADGEN_CPUS={facts.loadgen_cpus}" if facts.loadgen_cpus else "the machine's cores"
        def how(name: str) -> str:
            busy, throttled = facts.loadgen_cpu_busy.get(name), facts.loadgen_cpu_throttled.get(name)
            return ((f"generator {name} " if facts.loadgens > 1 else "")
                    + (f"busy {busy:.0%}" if busy is not None else "busy unknown")
                    + (f", throttled in {throttled:.0%} of the kernel's periods" if throttled is not None else ""))
        reasons.append("k6 was short of CPU: " + "; ".join(how(name) for name in starved)
                       + f" (the CPU it could use: {cores}), so it sent requests and read answers late")
    return reasons


def _loadgen_limit(facts: Facts) -> Verdict | None:
    """A generator that ran out (its own ports, VUs or time, or CPU) measured itself, not the app."""
    reasons = loadgen_reasons(facts)
    if not reasons:
        return None
    ports = facts.loadgen_errors.get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0)
    dropped, starved = facts.dropped_iterations, _starved(facts)
    headline = ("measurement not valid: the load generator was the limit, not the app; "
                + "; ".join(reasons) + "; the figures describe the generator")
    app = _classify(facts)
    evidence = [f"{facts.loadgens} generator(s); k6's own errors: "
                + (", ".join(f"{n:,} x {kind}" for kind, n in facts.loadgen_errors.items()) or "none"),
                f"the app's side, for what it is worth under this load ({app.case}): {app.headline}"]
    fixes = [Fix("more load generators, each with a segment of the same run, merged exactly",
                 f"make load LOADGENS={max(2, 2 * facts.loadgens)}")]
    if ports:
        fixes.append(Fix("a wider ephemeral port range (and tcp_tw_reuse=1) on the generator",
                         "make load LOADGEN_PORT_RANGE='1024 65535'"))
        fixes.append(Fix("HTTP keep-alive, only where the real clients keep their connections "
                         "(ab did not: there it hides the app's own churn)", "make load KEEPALIVE=1"))
    if dropped:
        fixes.append(Fix("more VUs for the arrival rate asked, or more generators", "make load VUS=<more>"))
    if starved:
        fixes.append(Fix("more CPU for each generator (on hosts: a bigger or less busy loadgen host)",
                         "make load LOADGEN_CPUS=<more, or unset>"))
    return Verdict(LOADGEN_LIMITED, headline, evidence, fixes)


def loadgen_facts(facts: Facts, load: run_record.Load) -> Facts:
    """Facts of the generators, from run.json's load (old runs: none recorded, nothing found)."""
    facts.loadgens = load.loadgens
    facts.loadgen_port_range = load.loadgen_port_range
    facts.loadgen_cpus = load.loadgen_cpus
    for gen in load.per_loadgen:
        if gen.get("cpu_busy") is not None:
            facts.loadgen_cpu_busy[str(gen.get("name"))] = float(gen["cpu_busy"])
        if gen.get("cpu_throttled") is not None:
            facts.loadgen_cpu_throttled[str(gen.get("name"))] = float(gen["cpu_throttled"])
        for kind, n in (gen.get("k6_errors") or {}).items():
            facts.loadgen_errors[kind] = facts.loadgen_errors.get(kind, 0) + int(n)
        facts.dropped_iterations += int(gen.get("dropped_iterations") or 0)
    return facts
# -- load generators: end -----------------------------------------------------------


def connection_bound(settings: dict[str, str], db_path: str = "",
                     pool_size: int | None = None) -> tuple[int | None, str]:
    """The most DB connections the app's settings allow, and how it is made up; (None, "")
    when they set none. db_path and pool_size (PgBouncer's) where known: the live panel's."""
    try:
        workers = int(settings.get("WORKERS", "0"))
        if settings.get("DB_POOL") and settings.get("DB_POOL_MAX"):
            return workers * int(settings["DB_POOL_MAX"]), "(workers x pool max_size)"
        if db_path.startswith("pgbouncer") and pool_size:
            return pool_size, "(PgBouncer pool_size)"
        if settings.get("WORKER_CLASS") == "gthread" and settings.get("THREADS"):
            return workers * int(settings["THREADS"]), "(workers x threads)"
    except ValueError:
        pass
    return None, ""


def _classify(facts: Facts) -> Verdict:
    errs = facts.errors
    addr_db = _count(errs, EADDRNOTAVAIL, lambda t: not _is_pgbouncer(t))
    addr_bouncer = _count(errs, EADDRNOTAVAIL, _is_pgbouncer)
    too_many = _count(errs, TOO_MANY)
    eagain = _count(errs, EAGAIN)
    total_errors = sum(e["count"] for e in errs)
    ports = (f"{_n(facts.peak_ports_in_use)} of {_n(facts.port_range_size)} local ports in use at peak "
             f"({facts.peak_port_use_pct if facts.peak_port_use_pct is not None else '?'}%), "
             f"tcp_tw_reuse={facts.tcp_tw_reuse if facts.tcp_tw_reuse is not None else '?'}")
    requests = f" of {_n(facts.requests)}" if facts.requests else ""

    if addr_db or addr_bouncer:
        toward_pgbouncer = addr_bouncer > addr_db
        target = next((e["target"] for e in sorted(errs, key=lambda e: -e["count"])
                       if EADDRNOTAVAIL in e["kind"] and e["target"]
                       and _is_pgbouncer(e["target"]) == toward_pgbouncer), "")
        if not target and facts.peak_tw_by_target:  # the log did not name it: the sampled endpoint did
            target = max(facts.peak_tw_by_target, key=lambda t: facts.peak_tw_by_target[t])
        target = target or "?"
        failed = addr_bouncer if toward_pgbouncer else addr_db
        tw = facts.peak_tw_by_target.get(target)
        case = PORT_EXHAUSTION_PGBOUNCER if toward_pgbouncer else PORT_EXHAUSTION_POSTGRES
        where = "moved to the PgBouncer hop, " if toward_pgbouncer else ""
        headline = (f"ephemeral port exhaustion {where}toward {target}: {ports}; "
                    f"{_n(failed)}{requests} requests failed with EADDRNOTAVAIL "
                    f"(Cannot assign requested address); cause: {_cause(facts, toward_pgbouncer)}")
        evidence = [f"peak TIME_WAIT toward {target}: {_n(tw)} (all sockets: {_n(facts.peak_time_wait)})"]
        if toward_pgbouncer and facts.peak_db_backends is not None:
            evidence.append(f"Postgres itself was protected: client backends peaked at {_n(facts.peak_db_backends)}")
        evidence.append(f"Postgres max_connections={_n(facts.max_connections)} was not the limit "
                        f"(peak client backends {_n(facts.peak_db_backends)})")
        return Verdict(case, headline, evidence, _fixes(case, facts))

    if too_many:
        headline = (f"Postgres max_connections reached: {_n(too_many)}{requests} requests failed with "
                    f"'too many clients'; client backends peaked at {_n(facts.peak_db_backends)} of "
                    f"max_connections={_n(facts.max_connections)}")
        return Verdict(MAX_CONNECTIONS, headline, [ports], _fixes(MAX_CONNECTIONS, facts))

    if eagain:
        target = next((e["target"] for e in errs if EAGAIN in e["kind"]), "?")
        headline = (f"Unix socket listen backlog full at {target}: {_n(eagain)}{requests} requests failed with "
                    "EAGAIN (Resource temporarily unavailable); no ephemeral ports are involved")
        return Verdict(SOCKET_BACKLOG, headline, [ports], _fixes(SOCKET_BACKLOG, facts))

    pool_timeouts = _count(errs, app_errors.POOL_TIMEOUT)
    prepared = _count(errs, app_errors.PREPARED_MISSING) + _count(errs, app_errors.PREPARED_EXISTS)
    if prepared:
        return _prepared_statements(facts, prepared, requests)
    if pool_timeouts:
        return _pool_timeout(facts, pool_timeouts, requests)

    failed_share = (facts.failed or 0) / facts.requests if facts.requests else 0.0
    if total_errors == 0 and failed_share < 0.01:
        s = facts.settings
        bound = ""
        limit, how = connection_bound(s)
        if limit is not None and s.get("DB_POOL"):
            within = "within" if facts.peak_db_backends is None or facts.peak_db_backends <= limit else \
                "ABOVE (the pool overshot its bound)"
            bound = f", {within} {how.strip('()')} = {limit:,} ({s['DB_POOL']} pool)"
        elif limit is not None:
            bound = f", within {how.strip('()')} = {limit:,}"
        elif facts.peak_pgbouncer_servers is not None:
            bound = f", PgBouncer server connections peaked at {facts.peak_pgbouncer_servers:,}"
        headline = (f"healthy: {_n(facts.failed or 0)}{requests} requests failed; "
                    f"DB connections peaked at {_n(facts.peak_db_backends)}{bound}; {ports}")
        return Verdict(HEALTHY, headline, [], [])

    kinds = "; ".join(f"{e['count']:,} x {e['kind']}" for e in errs[:3]) or "non-2xx answers without app errors"
    return Verdict(UNCLASSIFIED, f"failures not matching a known case: {kinds}", [ports], [])


# -- today's stack (psycopg 3): pool timeouts, prepared statements -----------
def _pool_timeout(facts: Facts, failed: int, requests: str) -> Verdict:
    s = facts.settings
    size = f"{s.get('DB_POOL_MAX', '?')} per worker x {s.get('WORKERS', '?')} workers"
    waiters = (f" for {s['THREADS']} threads each" if s.get("WORKER_CLASS") == "gthread" and s.get("THREADS")
               else "")
    headline = (f"DB pool too small for the concurrency: {_n(failed)}{requests} requests waited "
                f"{s.get('DB_POOL_TIMEOUT', '?')} s for a pooled connection and failed with PoolTimeout "
                f"(couldn't get a connection); pool of {size}{waiters}")
    evidence = [f"DB connections peaked at {_n(facts.peak_db_backends)}: the pool's bound held, "
                f"the requests queued behind it",
                "no ephemeral port exhaustion: pooled connections are reused"]
    return Verdict(POOL_TIMEOUT, headline, evidence, _fixes(POOL_TIMEOUT, facts))


def _prepared_statements(facts: Facts, failed: int, requests: str) -> Verdict:
    s = facts.settings
    headline = (f"prepared statements behind PgBouncer transaction pooling: {_n(failed)}{requests} requests "
                f"failed with 'prepared statement \"_pg3_N\" does not exist / already exists'; psycopg 3 "
                f"prepares a query after prepare_threshold={s.get('DB_PREPARE_THRESHOLD', '?')} runs "
                "on one connection, and PgBouncer hands the next transaction another server connection")
    evidence = [f"server-side binding: {s.get('DB_SERVER_SIDE_BINDING', 'false')}; DB path "
                f"{s.get('DB_HOST', '?')}:{s.get('DB_PORT', '?')}",
                f"PgBouncer server connections peaked at {_n(facts.peak_pgbouncer_servers)}"]
    return Verdict(PREPARED_STATEMENTS, headline, evidence, _fixes(PREPARED_STATEMENTS, facts))
# -- end of today's stack -----------------------------------------------------


# -- faults mid-load (churnlab/faults/plan.py): begin ----------------------------------
FAULT = "fault"
# The mechanisms that stay the verdict when a fault ran too; the fault is then one more line.
OWN_CASES = (PORT_EXHAUSTION_POSTGRES, PORT_EXHAUSTION_PGBOUNCER, MAX_CONNECTIONS, SOCKET_BACKLOG, POOL_TIMEOUT,
             PREPARED_STATEMENTS)
FAULT_WHAT = {
    "db-restart": "Postgres stopped and started again",
    "db-pause": "Postgres frozen (answers nothing)",
    "pgbouncer-kill": "PgBouncer killed and started again",
    "db-network-cut": "the app's route to the DB cut",
}


def _seconds_between(a: str | None, b: str | None) -> float | None:
    from datetime import datetime

    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def fault_lines(facts: Facts) -> tuple[str, list[str]]:
    """(the fault in one phrase, its recovery and left-overs as evidence lines)."""
    f = facts.fault or {}
    kind = f.get("kind", "?")
    began = _seconds_between(f.get("load_started"), f.get("started"))
    held = _seconds_between(f.get("started"), f.get("ended"))
    if began is None:
        what = (f"fault {kind} ({FAULT_WHAT.get(kind, kind)}) planned at {f.get('planned_at_s', 0):g} s "
                "never took effect")
    else:
        what = (f"fault {kind} ({FAULT_WHAT.get(kind, kind)}) at {began:.1f} s for "
                f"{'?' if held is None else f'{held:.1f}'} s (planned {f.get('planned_at_s', 0):g} s for "
                f"{f.get('planned_for_s', 0):g} s)")
    lines = [f"fault: {e}" for e in f.get("errors") or []]
    r = f.get("recovery") or {}
    if r:
        broken = r.get("left_broken") or []
        last = (f"the last {r.get('last_seconds')} s answered {r.get('last_seconds_requests', 0):,} requests, "
                f"{r.get('last_seconds_failed', 0):,} failed")
        after = r.get("last_failure_after_end_s")
        since = ("no failure after the fault ended" if not after
                 else f"the last failure came {after:.0f} s after the fault ended")
        state = "nothing left broken" if not broken else "left broken: " + "; ".join(broken)
        word = {True: "recovered without a restart", False: "NOT recovered",
                None: "recovery not measured (the load ended too soon after the fault)"}[r.get("recovered")]
        lines.append(f"recovery: {word}: {last}; {since}; {state}")
    return what, lines


def with_fault(facts: Facts, verdict: Verdict) -> Verdict:
    """A run with FAULT=...: the fault's own verdict, unless a mechanism of its own (port exhaustion, ...) showed,
    which stays the verdict with the fault beside it."""
    what, lines = fault_lines(facts)
    if verdict.case in OWN_CASES:
        verdict.evidence = [f"also: {what}", *lines, *verdict.evidence]
        return verdict
    f = facts.fault or {}
    r = f.get("recovery") or {}
    errs = facts.errors
    requests = f" of {_n(facts.requests)}" if facts.requests else ""
    by_kind: dict[str, int] = {}
    for e in errs:  # one count per kind, whichever target the log named
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + e["count"]
    kinds = ", ".join(f"{n:,} x {kind}" for kind, n in sorted(by_kind.items(), key=lambda kv: -kv[1])[:4]) \
        or "no app error logged"
    stalls = (f"; {r['slow_during']:,} requests took over 1 s (longest {r['max_ms_during'] / 1000:.1f} s)"
              if r.get("slow_during") and r.get("max_ms_during") else "")
    headline = (f"{what}: {_n(facts.failed or 0)}{requests} requests failed; signature: {kinds}{stalls}")
    evidence = [*lines,
                f"not port exhaustion: no EADDRNOTAVAIL; {_n(facts.peak_ports_in_use)} of "
                f"{_n(facts.port_range_size)} local ports in use at peak"]
    if r:
        evidence.insert(len(lines), f"failed during the fault: {r.get('failed_during', 0):,}; after it: "
                        f"{r.get('failed_after', 0):,}")
    s = facts.settings
    fixes = []
    persistent = s.get("CONN_MAX_AGE", "0") != "0" and not s.get("DB_POOL")
    if f.get("kind") == "db-restart" and persistent:
        if s.get("CONN_HEALTH_CHECKS", "0") not in ("1", "true"):
            evidence.append(f"CONN_MAX_AGE={s.get('CONN_MAX_AGE')} without CONN_HEALTH_CHECKS: each thread's "
                            "persistent connection died with the restart, and each thread's next request failed "
                            f"on it ({r.get('failed_after', 0):,} failures after the DB was back; they trail off "
                            "as the threads are reused, one per thread that held a connection)")
            fixes.append(Fix("CONN_HEALTH_CHECKS=1: Django checks a persistent connection before reusing it "
                             "and reconnects, so a DB restart costs no request once the DB is back",
                             f"VARIANT={facts.variant} CONN_HEALTH_CHECKS=1"))
        else:
            evidence.append("CONN_HEALTH_CHECKS=1: persistent connections are checked before reuse")
    return Verdict(FAULT, headline, evidence, fixes)
# -- faults mid-load: end -----------------------------------------------------------


# -- building Facts ---------------------------------------------------------
def facts_from_evidence(records: list[dict], facts: Facts) -> Facts:
    netns = [r for r in records if r.get("source") == "netns"]
    if netns:
        last = netns[-1]
        facts.port_range_size = last.get("port_range_size")
        facts.tcp_tw_reuse = last.get("tcp_tw_reuse")
        facts.peak_ports_in_use = max(r["local_ports_in_use"] for r in netns)
        facts.peak_port_use_pct = max(r["port_use_pct"] for r in netns)
        facts.peak_time_wait = max(r["time_wait"] for r in netns)
        for name in last.get("targets", {}):
            facts.peak_tw_by_target[name] = max(r["targets"].get(name, {}).get("time_wait", 0) for r in netns)
    pg = [r for r in records if r.get("source") == "postgres"]
    if pg:
        facts.peak_db_backends = max(r["client_backends"] for r in pg)
        facts.max_connections = pg[-1].get("max_connections")
    bouncer = [r for r in records if r.get("source") == "pgbouncer"]
    if bouncer:
        facts.peak_pgbouncer_servers = max(r["server_connections"] for r in bouncer)
    facts.port_budget = port_budget.compute(records)
    return facts


def facts_from_record(record: run_record.RunRecord, evidence: list[dict]) -> Facts:
    """Facts of a finished run: its record and its evidence records."""
    summary = record.summary or {}
    statuses = summary.get("status_counts", {})
    facts = Facts(
        settings=record.app_settings,
        variant=record.selection.variant,
        profile=record.selection.profile,
        keepalive=record.load.keepalive,
        requests=summary.get("requests"),
        failed=sum(n for code, n in statuses.items() if code != "200"),
        errors=record.app_errors,
        fault=asdict(record.fault) if record.fault else None,
    )
    facts_from_evidence(evidence, facts)
    loadgen_facts(facts, record.load)
    if facts.max_connections is None:
        facts.max_connections = record.db.max_connections
    return facts


def facts_from_run(run_dir: Path) -> Facts:
    """Facts of a run folder, of any schema run_record reads."""
    return facts_from_record(run_record.read(run_dir), run_record.read_evidence(run_dir / run_record.EVIDENCE))


def facts_from_log(evidence: list[dict], log_lines: list[str], settings: dict,
                   variant: str | None, profile: str | None) -> Facts:
    """Facts of a live system: evidence just sampled and the app's recent log."""
    counts = app_errors.count(log_lines)
    facts = Facts(settings=settings, variant=variant, profile=profile, errors=app_errors.as_records(counts),
                  failed=sum(counts.values()))
    return facts_from_evidence(evidence + app_errors.per_second(log_lines), facts)
