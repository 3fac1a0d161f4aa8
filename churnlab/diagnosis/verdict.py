"""A verdict in plain words, with the numbers behind it.

Reads a run folder (run.json + evidence.jsonl) or live evidence, reduces it to
Facts, and names the mechanism: which of the lab's cases this is, why, and the
fixes that apply, ranked, each with the lab variant or profile that shows it.
Standard library only, so it can run on a real host too.
"""
from __future__ import annotations

from churnlab.diagnosis.cases import (
    CONNECTION_LEAK,
    EADDRNOTAVAIL,
    EAGAIN,
    HEALTHY,
    LOADGEN_LIMITED,
    MAX_CONNECTIONS,
    PGBOUNCER_POOL,
    POOL_TIMEOUT,
    PORT_EXHAUSTION_PGBOUNCER,
    PORT_EXHAUSTION_POSTGRES,
    PREPARED_STATEMENTS,
    SOCKET_BACKLOG,
    TOO_MANY,
    UNCLASSIFIED,
    Fix,
    Verdict,
    _count,
    _is_pgbouncer,
    _n,
)
from churnlab.diagnosis.facts import (
    Facts,
)
from churnlab.diagnosis.faults import (
    with_fault,
)
from churnlab.diagnosis.leak import leak_verdict
from churnlab.diagnosis.loadgens import (
    _starved,
    loadgen_reasons,
)
from churnlab.diagnosis.ranking import (
    follow_ranking,
    measured_order,
)
from churnlab.diagnosis.workers import ASGI_CLASSES, THREAD_CLASSES
from churnlab.evidence import app_errors, k6_merge, port_budget

__all__ = ["diagnose", "connection_bound"]


def _cause(facts: Facts, toward_pgbouncer: bool) -> str:
    s = facts.settings
    age = s.get("CONN_MAX_AGE", "?")
    if toward_pgbouncer:
        return (f"the app still opens a new TCP connection per request, now to PgBouncer (CONN_MAX_AGE={age}); "
                "pooling protects Postgres but not the app host's ephemeral ports")
    if age == "0":
        return f"a new DB connection per request (CONN_MAX_AGE=0) with {s.get('WORKER_CLASS', '?')} workers"
    if s.get("WORKER_CLASS") in ASGI_CLASSES:
        return (f"a new DB connection per request under ASGI: Django does not keep CONN_MAX_AGE={age} connections "
                "across requests there (Django ticket #33497)")
    if s.get("WORKER_CLASS") in ("eventlet", "gevent"):
        ka = "with no HTTP keep-alive" if not facts.keepalive else "with keep-alive"
        return (f"greenlet-local connections under {s['WORKER_CLASS']} {ka}: each request is a new greenlet "
                f"with its own connection, so CONN_MAX_AGE={age} cannot reuse it")
    return f"more new connections per second than the port range can recycle (CONN_MAX_AGE={age})"


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
        PGBOUNCER_POOL: [
            Fix("bound the app's connections to PgBouncer: gthread workers x threads within max_client_conn, "
                "each connection kept (CONN_MAX_AGE > 0)", "VARIANT=gthread"),
            Fix("size PgBouncer's pool to the work: default_pool_size (below Postgres' max_connections) and "
                "max_client_conn above the app's connections", "VARIANT=pgbouncer PGBOUNCER_POOL_SIZE=<more>"),
        ],
        # -- today's stack (psycopg 3) --
        CONNECTION_LEAK: [
            Fix("bound the connections with a pool: Django 5.1+'s native pool (DATABASES OPTIONS {'pool': ...}, "
                "psycopg 3, CONN_MAX_AGE=0), at most workers x pool max_size", "VARIANT=asgi-pool"),
            Fix("PgBouncer beside the app over a Unix socket: no ephemeral port per connection",
                "VARIANT=pgbouncer-local"),
            Fix("serve it as WSGI with gunicorn gthread: each thread keeps its connection "
                "(connections <= workers x threads)", "VARIANT=gthread"),
        ],
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
    # after the fault's verdict, which replaces the others: what is missing is said whatever the case
    if facts.unjudged and verdict.case == HEALTHY:  # no failure found, but the figures to say so are missing
        verdict = Verdict(UNCLASSIFIED, "cannot judge: " + "; ".join(facts.unjudged), [], [])
    elif facts.unjudged:
        verdict.evidence += [f"not judged: {what}" for what in facts.unjudged]
    verdict.evidence += port_budget.lines(facts.port_budget)
    return verdict


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
        if settings.get("WORKER_CLASS") in THREAD_CLASSES and settings.get("THREADS"):
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

    leak = leak_verdict(facts, requests)
    if leak is not None:
        leak.fixes = _fixes(CONNECTION_LEAK, facts)
        return leak

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
        if facts.max_connections is not None or facts.peak_db_backends is not None:  # a probe reads no database
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
    bouncer_full = _count(errs, app_errors.PGBOUNCER_FULL) + _count(errs, app_errors.PGBOUNCER_WAIT)
    if bouncer_full:
        headline = (f"PgBouncer pool saturation: {_n(bouncer_full)}{requests} requests failed with PgBouncer's "
                    "'no more connections allowed' (max_client_conn) or 'query_wait_timeout' (no server "
                    f"connection free in time); PgBouncer server connections peaked at "
                    f"{_n(facts.peak_pgbouncer_servers)}")
        return Verdict(PGBOUNCER_POOL, headline, [ports], _fixes(PGBOUNCER_POOL, facts))

    # failures out of an unknown number of requests are not within 1% of it: never healthy
    failed_share = (facts.failed or 0) / facts.requests if facts.requests else float(bool(facts.failed))
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
                    f"DB connections peaked at {_n(facts.peak_db_backends)}{bound}; {ports}{_short_budget(facts)}")
        slow = [f"answers were slow, not failed: p95 {_n(round(facts.p95_ms or 0))} ms crossed k6's latency "
                f"threshold ({', '.join(facts.latency_crossed)}); the DB path held, so look at the app's CPU "
                "and the load's size on this machine"] if facts.latency_crossed else []
        return Verdict(HEALTHY, headline, slow, [])

    kinds = "; ".join(f"{e['count']:,} x {e['kind']}" for e in errs[:3]) or "non-2xx answers without app errors"
    return Verdict(UNCLASSIFIED, f"failures not matching a known case: {kinds}", [ports], [])


def _short_budget(facts: Facts) -> str:
    """Nothing failed yet, but a destination's port budget ran out at the rate seen: the sample ended
    before the range did (a probe of a few seconds, a short load). Said in the headline, not only below."""
    short = [b for b in facts.port_budget if b.runs_out]
    return "".join(f"; but the port budget toward {b.target} is short by {-b.headroom:,} at this rate"
                   + (f" (exhaustion predicted at {b.predicted_exhaustion_at:.1f} s)"
                      if b.predicted_exhaustion_at is not None else "") for b in short)


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
