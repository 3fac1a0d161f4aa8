"""A verdict for a run with a fault mid-load: what the fault did, and whether the app recovered."""
from __future__ import annotations

from churnlab.diagnosis.cases import OWN_CASES, Fix, Verdict, _n
from churnlab.diagnosis.facts import Facts

__all__ = ["FAULT", "degradation"]

FAULT = "fault"
# The mechanisms that stay the verdict when a fault ran too; the fault is then one more line.
FAULT_WHAT = {
    "db-restart": "Postgres stopped and started again",
    "db-pause": "Postgres frozen (answers nothing)",
    "pgbouncer-kill": "PgBouncer killed and started again",
    "db-network-cut": "the app's route to the DB cut",
    "db-slow": "Postgres slowed",
    "db-lossy": "packets toward the DB dropped",
}
DEGRADATIONS = ("db-slow", "db-lossy")


def _what(f: dict) -> str:
    """The fault in a few words, with a degradation's own setting: 'Postgres slowed to 0.05 CPU'."""
    kind = f.get("kind", "?")
    if kind == "db-slow" and f.get("db_cpus"):
        return f"Postgres slowed to {f['db_cpus']:g} CPU" + (f", +{f['delay_ms']} ms" if f.get("delay_ms") else "")
    if kind == "db-lossy" and f.get("loss_pct"):
        return f"{f['loss_pct']:g}% of the app's packets toward the DB dropped"
    return FAULT_WHAT.get(kind, kind)


def _ms(value) -> str:
    return "?" if value is None else f"{value:,.0f}"


def degradation(fault: dict, variant: str | None) -> str:
    """What a degradation did, before -> during: 'p95 40 -> 900 ms, DB connections 120 -> 610 under direct'
    (from the record's recovery; '' when nothing was measured). DB connections: the app's established ones
    toward its DB host where sampled (a DB starved of CPU is slow to list its own), else Postgres' count."""
    r = fault.get("recovery") or {}
    parts = []
    if r.get("p95_ms_before") is not None or r.get("p95_ms_during") is not None:
        parts.append(f"p95 {_ms(r.get('p95_ms_before'))} -> {_ms(r.get('p95_ms_during'))} ms")
    if r.get("app_db_before") is not None or r.get("app_db_during") is not None:  # the app's side first
        parts.append(f"DB connections {_ms(r.get('app_db_before'))} -> {_ms(r.get('app_db_during'))}")
    elif r.get("peak_db_before") is not None or r.get("peak_db_during") is not None:
        parts.append(f"DB connections {_ms(r.get('peak_db_before'))} -> {_ms(r.get('peak_db_during'))}")
    return ", ".join(parts) + (f" under {variant}" if parts and variant else "")


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
        what = (f"fault {kind} ({_what(f)}) at {began:.1f} s for "
                f"{'?' if held is None else f'{held:.1f}'} s (planned {f.get('planned_at_s', 0):g} s for "
                f"{f.get('planned_for_s', 0):g} s)")
        done = degradation(f, facts.variant) if kind in DEGRADATIONS else ""
        if done:
            what += f", {done}"
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
    # "?" failed where k6 left no figures (facts.failed is None)
    headline = (f"{what}: {_n(facts.failed)}{requests} requests failed; signature: {kinds}{stalls}")
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
