"""The ASGI variants: uvicorn's worker on today's stack, the leak CONN_MAX_AGE makes
there (Django ticket #33497) told apart from churn by the evidence, and the pool's bound.

The evidence records are shaped like the ones the recorder wrote for `asgi` under the
incident's load with PROFILE=repro (results/20261203T040229Z-asgi-repro-ab-c500):
idle connections in pg_stat_activity far above the 6 requests that can use one at
once, and the port range full of ESTABLISHED sockets before TIME_WAIT takes over."""
from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.diagnosis.leak import concurrency_bound
from churnlab.evidence import app_errors

ADDR_LINE = ("2026-12-03 04:02:35,000 ERROR roles healthz-db-error OperationalError: connection failed: "
             'connection to server at "172.19.0.2", port 5432 failed: Cannot assign requested address')
ASGI = {"WORKER_CLASS": "uvicorn", "WORKERS": "6", "THREADS": "1", "CONN_MAX_AGE": "600"}
EVENTLET = {"WORKER_CLASS": "eventlet", "WORKERS": "6", "THREADS": "1", "CONN_MAX_AGE": "0"}


def _pg(ts, idle, active=1):
    return {"ts": ts, "source": "postgres", "client_backends": idle + active,
            "by_state": {"idle": idle, "active": active}, "max_connections": 4096}


def _netns(ts, established, time_wait):
    ports = established + time_wait
    return {"ts": ts, "source": "netns", "time_wait": time_wait, "local_ports_in_use": ports,
            "port_use_pct": ports / 10, "port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0,
            "targets": {"db:5432": {"address": "172.19.0.2:5432", "time_wait": time_wait,
                                    "established": established, "local_ports": ports, "new": None}}}


def _facts(settings, records, failed=8914):
    counts = app_errors.count([ADDR_LINE] * failed)
    facts = diagnosis.Facts(settings=dict(settings), variant=None, profile="repro", requests=10000,
                            failed=failed, errors=app_errors.as_records(counts))
    return diagnosis.facts_from_evidence(records, facts)


LEAK = [_pg(1.0, 18), _netns(1.2, 300, 25), _pg(2.0, 205), _netns(2.2, 656, 56), _pg(5.3, 364, 12),
        _netns(5.5, 839, 161), _netns(9.0, 181, 819), _pg(9.5, 176, 0)]


def test_asgi_leak_is_named_with_its_idle_connections_and_the_ports_they_held():
    verdict = diagnosis.diagnose(_facts(ASGI, LEAK))
    assert verdict.case == diagnosis.CONNECTION_LEAK
    head = verdict.headline
    assert head.startswith("connections leak (364 idle, growing): 364 idle DB connections of 376 client backends, "
                           "growing from 18 to 364 in 4 s, while at most 6 requests can use one at once")
    assert "toward db:5432: 839 ESTABLISHED and 161 TIME_WAIT of 1,000 when the range ran out" in head
    assert "8,914 of 10,000 requests failed with EADDRNOTAVAIL" in head
    assert any("Django ticket #33497" in line for line in verdict.evidence)
    assert any("peak 819 toward the DB" in line for line in verdict.evidence)
    assert verdict.fixes[0].shown_by == "VARIANT=asgi-pool"
    assert "CONN_MAX_AGE" not in verdict.fixes[0].shown_by


def test_without_pg_stat_activity_the_app_hosts_established_sockets_show_the_leak():
    """The read-only probe on a host sees sockets only: its ESTABLISHED connections toward the DB,
    above the 6 requests that can use one at once, are the leak (measured by the probe on `asgi`
    under 3,000 requests: 244 -> 738 ESTABLISHED in 4 s)."""
    sockets_only = [r for r in LEAK if r["source"] == "netns"]
    verdict = diagnosis.diagnose(_facts({**ASGI, "WORKER_CLASS": "asgi"}, sockets_only))
    assert verdict.case == diagnosis.CONNECTION_LEAK
    assert verdict.headline.startswith(
        "connections leak (839 ESTABLISHED toward db:5432, growing): 839 of the app host's connections toward the "
        "DB open at once, growing from 300 to 839 in 4 s, while at most 6 requests can use one at once")
    assert "8,914 of 10,000 requests failed with EADDRNOTAVAIL" in verdict.headline
    # within the bound, or under green workers (nothing bounds them): churn, as before
    assert diagnosis.diagnose(_facts(ASGI, [_netns(1.2, 6, 994)])).case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert diagnosis.diagnose(_facts(EVENTLET, sockets_only)).case == diagnosis.PORT_EXHAUSTION_POSTGRES


def test_churn_stays_port_exhaustion_when_nothing_bounds_the_concurrency():
    """eventlet with CONN_MAX_AGE=0: idle counts alone are no leak (500 greenlets may each hold one)."""
    churn = [_pg(1.0, 100), _netns(1.2, 398, 602), _pg(2.0, 259)]
    verdict = diagnosis.diagnose(_facts(EVENTLET, churn))
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES


def test_idle_within_the_bound_or_without_failures_is_no_leak():
    assert diagnosis.diagnose(_facts(ASGI, [_pg(1.0, 6), _netns(1.2, 839, 161)])).case == \
        diagnosis.PORT_EXHAUSTION_POSTGRES
    assert diagnosis.diagnose(_facts(ASGI, LEAK, failed=0)).case == diagnosis.HEALTHY


def test_the_pool_holds_within_workers_x_max_size():
    sel = catalog.Selection.of("asgi-pool", "repro")
    env = sel.app_environment()
    assert env["WORKER_CLASS"] == "uvicorn" and env["DB_POOL"] == "native" and env["CONN_MAX_AGE"] == "0"
    assert catalog.db_bound(catalog.variant("asgi-pool")) == (240, "workers x pool_max_size = 6 x 40")
    pooled = {**ASGI, "CONN_MAX_AGE": "0", "DB_POOL": "native", "DB_POOL_MAX": "40"}
    facts = _facts(pooled, [_pg(1.0, 200, 40), _netns(1.2, 240, 0)], failed=0)
    verdict = diagnosis.diagnose(facts)  # a pool keeps idle connections on purpose
    assert verdict.case == diagnosis.HEALTHY
    assert "within workers x pool max_size = 240 (native pool)" in verdict.headline


def test_asgi_variants_run_the_uvicorn_worker_of_today_lock():
    assert catalog.variant("asgi")["worker_class"] == "uvicorn" and catalog.variant("asgi")["incident"] is True
    assert "uvicorn" in catalog.LOCK_WORKER_CLASSES[catalog.TODAY_LOCK]
    assert "uvicorn" not in catalog.LOCK_WORKER_CLASSES[catalog.INCIDENT_LOCK]
    assert concurrency_bound(ASGI)[0] == 6 and concurrency_bound(EVENTLET) == (None, "")
    assert catalog.db_bound(catalog.variant("asgi")) is None
    lock = (catalog.PRESETS_FILE.parent.parent / "app" / catalog.TODAY_LOCK).read_text().split()
    assert {"uvicorn==0.55.0", "uvicorn-worker==0.4.0", "click==8.5.1", "h11==0.16.0"} <= set(lock)


def test_the_port_budget_counts_failures_psycopg3_names_by_address():
    """psycopg 3 names the IP it resolved, the sampler the destination's name: both are one target."""
    from churnlab.evidence import port_budget
    label = app_errors.classify(ADDR_LINE).label()
    records = [{**_netns(1.0, 300, 25), "targets": {"db:5432": {**_netns(1.0, 300, 25)["targets"]["db:5432"],
                                                                "new": 325}}},
               {**_netns(2.0, 839, 161), "targets": {"db:5432": {**_netns(2.0, 839, 161)["targets"]["db:5432"],
                                                                 "new": 675}}},
               {"ts": 2, "source": "app_errors", "total": 185, "kinds": {label: 185}},
               {"ts": 2, "source": "app_errors", "total": 3, "kinds": {"EADDRNOTAVAIL: x (toward 10.0.0.9:5432)": 3}}]
    [budget] = port_budget.compute(records)
    assert budget.address == "172.19.0.2:5432" and budget.failed_connections == 185
