"""Connections that outlive their request: a leak, told apart from churn by the evidence.

Churn closes each connection when its request ends, so the ports it used wait
in TIME_WAIT. A leak keeps them open: Postgres counts them idle in
pg_stat_activity, more of them than the app can ever use at once, and on the
app host their ports stay ESTABLISHED. Under ASGI (Django ticket #33497) a sync
view runs in one thread per worker process, so at most `workers` requests use a
connection at any moment; CONN_MAX_AGE keeps each request's own connection
open after it, until Python collects it. The measured `asgi` variant under the
incident's load shows both, one after the other: the leaked connections fill
the port range while ESTABLISHED, and go to TIME_WAIT as they are collected.
The read-only probe has no pg_stat_activity: there the app host's own
ESTABLISHED sockets toward the DB, more than requests that can use one at
once, are the leak's evidence.

Standard library only, as the rest of the verdict.
"""
from __future__ import annotations

from churnlab.diagnosis.cases import CONNECTION_LEAK, EADDRNOTAVAIL, TOO_MANY, Verdict, _count, _is_pgbouncer, _n
from churnlab.diagnosis.facts import Facts
from churnlab.diagnosis.workers import ASGI_CLASSES, THREAD_CLASSES

__all__ = ["concurrency_bound", "leak_verdict"]


def concurrency_bound(settings: dict) -> tuple[int | None, str]:
    """How many requests can use a DB connection at the same moment, and why; (None, "")
    where nothing bounds it (green workers: one greenlet per request) or it is not known."""
    try:
        workers = int(settings.get("WORKERS", ""))
        cls = settings.get("WORKER_CLASS") or ""
        if cls in ASGI_CLASSES:
            return workers, (f"{workers} workers x 1: under ASGI Django runs sync views in one thread "
                             "per worker process")
        if cls in THREAD_CLASSES:
            threads = int(settings.get("THREADS", ""))
            return workers * threads, f"{workers} workers x {threads} threads"
        if cls == "sync":
            return workers, f"{workers} sync workers"
    except ValueError:
        pass
    return None, ""


def _ports_when_full(facts: Facts) -> tuple[str, dict] | None:
    """The DB destination whose sockets held the most local ports when the range ran out."""
    held = {name: t for name, t in facts.ports_at_full.items() if not _is_pgbouncer(name)}
    if not held:
        return None
    name = max(held, key=lambda n: held[n].get("local_ports", 0))
    return name, held[name]


def _established(facts: Facts) -> tuple[str, tuple[int, int, float]] | None:
    """The DB destination (not PgBouncer) with the most ESTABLISHED sockets at its peak, and its rise."""
    db = {name: rise for name, rise in facts.established_rise.items() if not _is_pgbouncer(name)}
    if not db:
        return None
    name = max(db, key=lambda n: db[n][1])
    return name, db[name]


def _growth(first: int | None, peak: int | None, seconds: float | None) -> str:
    return f"growing from {_n(first)} to {_n(peak)} in {seconds:.0f} s" if seconds else "at its first sample"


def leak_verdict(facts: Facts, requests: str) -> Verdict | None:
    """The leak's verdict when the DB's idle connections outnumber the requests that could
    use one at once and the run failed for it (ports or max_connections); None otherwise.
    Without pg_stat_activity (the read-only probe on a host: sockets only), the app host's
    ESTABLISHED connections toward the DB stand in for the idle ones: churn closes each
    connection with its request, so more open at once than requests that can use one stay open."""
    s = facts.settings
    if s.get("DB_POOL"):  # a pool keeps idle connections on purpose
        return None
    bound, how = concurrency_bound(s)
    if bound is None:
        return None
    if facts.peak_db_idle is not None:
        if facts.peak_db_idle <= bound:
            return None
        opened = (f"connections leak ({_n(facts.peak_db_idle)} idle, growing): {_n(facts.peak_db_idle)} idle DB "
                  f"connections of {_n(facts.peak_db_idle_backends)} client backends, "
                  f"{_growth(facts.first_db_idle, facts.peak_db_idle, facts.db_idle_rise_s)}")
    else:
        seen = _established(facts)
        if seen is None or seen[1][1] <= bound:
            return None
        name, (first, peak, rise) = seen
        opened = (f"connections leak ({_n(peak)} ESTABLISHED toward {name}, growing): {_n(peak)} of the app "
                  f"host's connections toward the DB open at once, {_growth(first, peak, rise)}")
    addr_db = _count(facts.errors, EADDRNOTAVAIL, lambda t: not _is_pgbouncer(t))
    too_many = _count(facts.errors, TOO_MANY)
    if not addr_db and not too_many:
        return None
    headline = f"{opened}, while at most {bound:,} requests can use one at once ({how})"
    evidence = [f"cause: {cause(s)}"]
    full = _ports_when_full(facts)
    if addr_db:
        if full:
            name, t = full
            headline += (f"; the leaked connections held the app host's ports toward {name}: "
                         f"{_n(t.get('established'))} ESTABLISHED and {_n(t.get('time_wait'))} TIME_WAIT of "
                         f"{_n(facts.port_range_size)} when the range ran out")
        headline += f"; {_n(addr_db)}{requests} requests failed with EADDRNOTAVAIL (Cannot assign requested address)"
        tw = max(facts.peak_tw_by_target.values(), default=None)
        evidence.append(f"then churn: the collected connections wait in TIME_WAIT (peak {_n(tw)} toward the DB), "
                        f"{_n(facts.peak_ports_in_use)} of {_n(facts.port_range_size)} ports in use at peak, "
                        f"tcp_tw_reuse={facts.tcp_tw_reuse if facts.tcp_tw_reuse is not None else '?'}")
    if too_many:
        headline += (f"; {_n(too_many)}{requests} requests failed with 'too many clients' "
                     f"(max_connections={_n(facts.max_connections)})")
    elif facts.max_connections is not None:
        evidence.append(f"Postgres max_connections={_n(facts.max_connections)} was not reached "
                        f"(peak client backends {_n(facts.peak_db_backends)})")
    return Verdict(CONNECTION_LEAK, headline, evidence, [])


def cause(settings: dict) -> str:
    age = settings.get("CONN_MAX_AGE", "?")
    if settings.get("WORKER_CLASS") in ASGI_CLASSES:
        return (f"ASGI with CONN_MAX_AGE={age}: Django keeps each request's connection open after it "
                "(Django ticket #33497) and never reuses it; CONN_MAX_AGE cannot bound them, a pool does")
    return f"connections kept open after their request (CONN_MAX_AGE={age}) and not reused"
