"""Properties of the verdict classifier (churnlab.diagnosis), on Facts made directly and on
Facts read from a run's record and evidence: it never raises, always names one of the
known cases, calls a run healthy only when no app error was logged and at most 1% of
the requests failed (with the figures to say so), and keeps verdict.py's order: the
generator as the limit first, then a connection leak, then EADDRNOTAVAIL, too many clients, EAGAIN, prepared
statements, pool timeouts; a fault is the verdict unless a mechanism of the lab's showed."""
from __future__ import annotations

import copy
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from churnlab import diagnosis
from churnlab.core import catalog, run_record
from churnlab.diagnosis import verdict as verdict_module
from churnlab.diagnosis.leak import concurrency_bound
from churnlab.diagnosis.loadgens import loadgen_reasons
from churnlab.evidence import app_errors, k6_merge, port_budget
from churnlab.evidence.k6_summary import LoadSummary
from tests.unit.test_port_budget import simulate

KNOWN = {*diagnosis.OWN_CASES, diagnosis.HEALTHY, diagnosis.UNCLASSIFIED, diagnosis.LOADGEN_LIMITED,
         diagnosis.FAULT}
EADDR = app_errors.KINDS[0][0]
TOO_MANY = app_errors.KINDS[1][0]
EAGAIN = app_errors.KINDS[2][0]
PREPARED = (app_errors.PREPARED_MISSING, app_errors.PREPARED_EXISTS)

words = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=10)  # one line each
kinds = st.one_of(st.sampled_from([EADDR, TOO_MANY, EAGAIN, *PREPARED, app_errors.POOL_TIMEOUT]),  # the cases' own
                  st.sampled_from([kind for kind, _ in app_errors.KINDS] + ["gunicorn worker timeout",
                                                                            "OperationalError: x"]))
targets = st.sampled_from(["db:5432", "pgbouncer:6432", "10.30.0.12:6432", "/run/postgresql/.s.PGSQL.5432",
                           "/run/pgbouncer/.s.PGSQL.6432", ""])
errors = st.lists(st.fixed_dictionaries({"kind": kinds, "target": targets, "count": st.integers(0, 10**6)}),
                  max_size=4)
numerals = st.sampled_from(["0", "1", "4", "40", "600"]) | words
app_settings = st.fixed_dictionaries({}, optional={
    "WORKER_CLASS": st.sampled_from(["sync", "gthread", "eventlet", "gevent", "uvicorn"]) | words,
    "WORKERS": numerals, "THREADS": numerals, "CONN_MAX_AGE": numerals, "CONN_HEALTH_CHECKS": numerals,
    "DB_POOL": st.sampled_from(["", "native", "geventpool"]), "DB_POOL_MAX": numerals, "DB_POOL_TIMEOUT": numerals,
    "DB_PREPARE_THRESHOLD": numerals, "DB_SERVER_SIDE_BINDING": words, "DB_HOST": words, "DB_PORT": numerals})
variants = st.none() | st.sampled_from(catalog.variants()) | words
profiles = st.none() | st.sampled_from(catalog.profiles()) | words
counts = st.integers(0, 10**7)
maybe = st.none().__or__


def rarely(strategy, empty):
    """Mostly empty: the generator's limits, faults and missing figures stay the exception, so
    that the cases behind them are met too."""
    return st.one_of(st.just(empty), st.just(empty), strategy)


budgets = st.builds(lambda demand, size: port_budget.compute(simulate(demand, size)),
                    st.lists(st.integers(0, 400), min_size=1, max_size=20), st.integers(1, 2_000))
generator_names = st.sampled_from(["1", "2", "3"])
loadgen_errors = st.dictionaries(st.sampled_from([k6_merge.LOADGEN_EADDRNOTAVAIL, "timeout",
                                                  "EMFILE: too many open files"]), st.integers(0, 1000), max_size=2)
moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(timezone.utc))
recoveries = st.builds(run_record.Recovery, recovered=maybe(st.booleans()), last_seconds=st.integers(0, 60),
                       last_seconds_requests=counts, last_seconds_failed=counts, failed_during=counts,
                       failed_after=counts, last_failure_after_end_s=maybe(st.floats(0, 600)),
                       slow_during=counts, max_ms_during=maybe(st.floats(0, 10**6)),
                       left_broken=st.lists(words, max_size=2))


@st.composite
def faults(draw):
    start = draw(moments)
    began = draw(maybe(st.floats(0, 3600)))
    held = draw(maybe(st.floats(0, 600)))
    iso = [start, None if began is None else start + timedelta(seconds=began),
           None if began is None or held is None else start + timedelta(seconds=began + held)]
    return run_record.Fault(kind=draw(st.sampled_from(["db-restart", "db-pause", "pgbouncer-kill", "db-network-cut"])),
                            planned_at_s=draw(st.floats(1, 3600)), planned_for_s=draw(st.floats(1, 600)),
                            target=draw(words), load_started=start.isoformat(),
                            started=None if iso[1] is None else iso[1].isoformat(),
                            ended=None if iso[2] is None else iso[2].isoformat(),
                            errors=draw(st.lists(words, max_size=2)), recovery=draw(maybe(recoveries)))


facts_strategy = st.builds(
    diagnosis.Facts, settings=app_settings, variant=variants, profile=profiles, keepalive=maybe(st.booleans()),
    requests=maybe(counts), failed=maybe(counts), errors=errors,
    port_range_size=maybe(st.integers(0, 64_512)), tcp_tw_reuse=maybe(st.integers(0, 2)),
    peak_ports_in_use=maybe(st.integers(0, 64_512)), peak_port_use_pct=maybe(st.floats(0, 100)),
    peak_time_wait=maybe(counts), peak_tw_by_target=st.dictionaries(targets, counts, max_size=2),
    peak_db_backends=maybe(st.integers(0, 5000)), max_connections=maybe(st.integers(1, 5000)),
    peak_db_idle=maybe(st.integers(0, 5000)), first_db_idle=maybe(st.integers(0, 5000)),
    db_idle_rise_s=maybe(st.floats(0, 600)),
    ports_at_full=st.dictionaries(targets, st.fixed_dictionaries(
        {"established": maybe(counts), "time_wait": maybe(counts), "local_ports": maybe(counts)}), max_size=2),
    peak_pgbouncer_servers=maybe(st.integers(0, 1000)), port_budget=budgets,
    loadgens=st.integers(1, 8), loadgen_errors=rarely(loadgen_errors, {}),
    dropped_iterations=rarely(st.integers(0, 3) | counts, 0),
    loadgen_port_range=st.sampled_from(["", "1024 65535", "60000 60049"]),
    loadgen_cpu_busy=rarely(st.dictionaries(generator_names, st.floats(0, 1.5), max_size=2), {}),
    loadgen_cpu_throttled=rarely(st.dictionaries(generator_names, st.floats(0, 1), max_size=2), {}),
    loadgen_cpus=st.sampled_from(["", "0.5", "2"]), fault=rarely(faults().map(asdict), None),
    p95_ms=maybe(st.floats(0, 10**6)), unjudged=rarely(st.lists(words.filter(str.strip), max_size=2), []),
    latency_crossed=st.lists(st.sampled_from(["p(95)<2000", "p(99)<5000"]), max_size=2, unique=True),
)


def _count(facts: diagnosis.Facts, *kinds: str, where=lambda target: True) -> int:
    return sum(e["count"] for e in facts.errors if any(k in e["kind"] for k in kinds) and where(e["target"]))


def _expected_case(facts: diagnosis.Facts) -> str | None:
    """verdict.py's order of precedence, as its docstrings and cases.py state it (None: healthy or not,
    the 1% rule decides)."""
    bound = concurrency_bound(facts.settings)[0]
    if loadgen_reasons(facts):
        case = diagnosis.LOADGEN_LIMITED
    elif (not facts.settings.get("DB_POOL") and facts.peak_db_idle is not None and bound is not None
          and facts.peak_db_idle > bound and (_count(facts, TOO_MANY) or _count(
              facts, "EADDRNOTAVAIL", where=lambda t: not verdict_module._is_pgbouncer(t)))):
        case = diagnosis.CONNECTION_LEAK  # idle connections above what the app can use at once
    elif _count(facts, "EADDRNOTAVAIL"):
        bouncer = _count(facts, "EADDRNOTAVAIL", where=verdict_module._is_pgbouncer)
        case = (diagnosis.PORT_EXHAUSTION_PGBOUNCER if bouncer > _count(facts, "EADDRNOTAVAIL") - bouncer
                else diagnosis.PORT_EXHAUSTION_POSTGRES)
    elif _count(facts, TOO_MANY):
        case = diagnosis.MAX_CONNECTIONS
    elif _count(facts, "EAGAIN"):
        case = diagnosis.SOCKET_BACKLOG
    elif _count(facts, *PREPARED):
        case = diagnosis.PREPARED_STATEMENTS
    elif _count(facts, app_errors.POOL_TIMEOUT):
        case = diagnosis.POOL_TIMEOUT
    elif _count(facts, app_errors.PGBOUNCER_FULL, app_errors.PGBOUNCER_WAIT):
        case = diagnosis.PGBOUNCER_POOL
    else:
        return None
    if facts.fault and case not in diagnosis.OWN_CASES:
        return diagnosis.FAULT
    return case


def _check(facts: diagnosis.Facts) -> diagnosis.Verdict:
    before = copy.deepcopy(facts)
    verdict = diagnosis.diagnose(facts)
    assert facts == before  # the facts are read, never changed
    assert verdict == diagnosis.diagnose(copy.deepcopy(facts))  # the same facts, the same verdict
    assert verdict.case in KNOWN and verdict.headline and "\n" not in verdict.headline
    text = verdict.text()
    failed, requests = facts.failed or 0, facts.requests or 0
    app_errors_logged = sum(e["count"] for e in facts.errors)
    if verdict.case == diagnosis.HEALTHY:
        assert app_errors_logged == 0 and (failed == 0 or failed < 0.01 * requests), (failed, requests)
        assert not facts.unjudged and not facts.fault and not loadgen_reasons(facts)
    if facts.unjudged:
        assert verdict.case != diagnosis.HEALTHY
        assert all(what in text for what in facts.unjudged), text  # says what it could not judge
    expected = _expected_case(facts)
    if expected is not None:
        assert verdict.case == expected
    elif facts.fault:
        assert verdict.case == diagnosis.FAULT
    else:
        assert verdict.case in (diagnosis.HEALTHY, diagnosis.UNCLASSIFIED)
        unclear = app_errors_logged or failed >= 0.01 * requests and failed or facts.unjudged
        assert (verdict.case == diagnosis.UNCLASSIFIED) == bool(unclear), (failed, requests, facts.errors)
    own = {f"VARIANT={facts.variant}", f"PROFILE={facts.profile}"}
    assert not [fix for fix in verdict.fixes if fix.shown_by in own]  # never the fix the run already had
    shown = port_budget.lines(facts.port_budget)
    assert verdict.evidence[len(verdict.evidence) - len(shown):] == shown  # the budget closes the evidence
    return verdict


@given(facts=facts_strategy)
@settings(max_examples=200)
@example(facts=diagnosis.Facts(requests=None, failed=5))   # failures of an unknown number of requests
@example(facts=diagnosis.Facts(requests=0, failed=3))
@example(facts=diagnosis.Facts(requests=1000, failed=10))  # 1% exactly: not healthy
@example(facts=diagnosis.Facts(errors=[{"kind": EAGAIN, "target": "", "count": 9},
                                       {"kind": TOO_MANY, "target": "db:5432", "count": 1}]))
@example(facts=diagnosis.Facts(unjudged=["the requests' outcome"], fault=asdict(run_record.Fault(kind="db-pause"))))
def test_the_verdict_on_any_facts(facts):
    _check(facts)


# -- from a run's record and evidence, as `make diagnose RUN=...` reads them ----
statuses = st.dictionaries(st.sampled_from(["200", "499", "0", "502", "other"]), st.integers(0, 10**5), max_size=4)
summaries = st.builds(LoadSummary, scenario=st.just("ab"), requests=st.integers(0, 10**6), rps=st.floats(0, 10**5),
                      error_rate=st.floats(0, 1), status_counts=statuses, p95_ms=maybe(st.floats(0, 10**5)),
                      thresholds_crossed=st.lists(st.sampled_from(["http_req_duration p(95)<2000",
                                                                   "http_req_failed rate<0.01"]), max_size=2))
generators = st.builds(k6_merge.Generator, name=generator_names, requests=counts, k6_errors=rarely(loadgen_errors, {}),
                       dropped_iterations=rarely(counts, 0), cpu_busy=rarely(st.floats(0, 1.5), None),
                       cpu_throttled=rarely(st.floats(0, 1), None), summary_problem=st.sampled_from(
                           ["", "k6-summary.json is empty", "k6-summary.json was not written"]))
records = st.builds(
    run_record.RunRecord, run_id=st.just("r"), status=st.sampled_from(run_record.STATUSES),
    selection=st.builds(run_record.Selection, variant=variants, profile=profiles), app_settings=app_settings,
    load=st.builds(run_record.Load, keepalive=st.booleans(), loadgens=st.integers(1, 3),
                   per_loadgen=st.lists(generators.map(k6_merge.Generator.as_dict), max_size=3),
                   loadgen_port_range=st.sampled_from(["", "60000 60049"])),
    summary=maybe(summaries.map(LoadSummary.as_dict)), app_errors=errors,
    db=st.builds(run_record.Db, max_connections=maybe(st.integers(1, 5000))), fault=rarely(faults(), None))


@st.composite
def evidence(draw):
    records = simulate(draw(st.lists(st.integers(0, 400), max_size=20)), draw(st.integers(1, 2_000)))
    ts = [r["ts"] for r in records] or [1.0]
    records += [{"ts": t, "source": "postgres", "client_backends": draw(st.integers(0, 5000)),
                 "max_connections": draw(maybe(st.integers(1, 5000)))} for t in draw(st.lists(st.sampled_from(ts),
                                                                                                max_size=3))]
    records += [{"ts": t, "source": "pgbouncer", "server_connections": draw(st.integers(0, 1000))}
                for t in draw(st.lists(st.sampled_from(ts), max_size=2))]
    return records


@given(record=records, evidence=evidence())
@settings(max_examples=200)
@example(record=run_record.RunRecord(run_id="r", status=run_record.FAILED, fault=run_record.Fault(kind="db-restart")),
         evidence=[])  # a fault, and no k6 summary: read "0 requests failed", and nothing of what was missing
def test_the_verdict_on_any_run(record, evidence):
    facts = diagnosis.facts_from_record(record, evidence)
    verdict = _check(facts)
    if record.summary is None:
        assert verdict.case != diagnosis.HEALTHY and "k6's figures are missing" in verdict.text()
        assert " 0 requests failed" not in verdict.headline  # not known: k6 left no figures
    if verdict.case == diagnosis.HEALTHY:
        failed = sum(n for code, n in record.summary["status_counts"].items() if code != "200")
        assert failed == 0 or failed < 0.01 * record.summary["requests"]
