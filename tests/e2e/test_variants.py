"""The incident's `ab -n 10000 -c 500`, with no keep-alive, on each variant.

Each test asserts the outcome the lab claims for that variant: error kinds,
counts and bounds, read from k6's summary, the app's log and Postgres."""
import json

import pytest

from churnlab import loadrun

EADDRNOTAVAIL = "Cannot assign requested address"
pytestmark = pytest.mark.e2e


def _non_2xx(result):
    return sum(n for code, n in result.summary.status_counts.items() if code != "200")


def _assert_run_files(result):
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["selection"]["variant"] == result.selection["variant"]
    assert record["load"]["vus"] == 500 and record["load"]["keepalive"] is False
    assert record["versions"]["app"]["django"] == "4.1.3"
    assert record["versions"]["app"]["rest_framework"] == "3.14.0"
    assert record["versions"]["app"]["gunicorn"] == "21.2.0"
    assert record["versions"]["postgres"]
    assert record["db"]["max_connections"] == 4096
    assert (result.run_dir / "k6-summary.json").is_file()
    return record


def test_direct_repro_exhausts_ephemeral_ports_toward_postgres(incident_run):
    result = incident_run("direct", "repro")
    s = result.summary
    assert s.requests == 10000
    assert s.status_counts.get("499", 0) >= 5000, s.status_counts  # prototype: 8,910 of 10,000
    assert s.error_rate >= 0.5
    failed = result.error_count(EADDRNOTAVAIL)
    assert failed >= 5000
    targets = {e["target"] for e in result.errors if EADDRNOTAVAIL in e["kind"]}
    assert targets == {"db:5432"}
    # Every 499 is one logged failure: the log accounts for all of them.
    assert sum(e["count"] for e in result.errors) == s.status_counts["499"]
    _assert_run_files(result)


def test_persistent_repro_without_keepalive_fails_the_same_way(incident_run):
    result = incident_run("persistent", "repro")
    assert result.settings["CONN_MAX_AGE"] == "600"
    assert result.summary.error_rate >= 0.5
    assert result.error_count(EADDRNOTAVAIL) >= 5000


def test_gthread_repro_holds_with_bounded_connections(incident_run):
    result = incident_run("gthread", "repro")
    s = result.summary
    bound = int(result.settings["WORKERS"]) * int(result.settings["THREADS"])
    assert bound == 800
    assert s.requests == 10000 and s.status_counts == {"200": 10000}, s.status_counts
    assert result.errors == []
    assert result.peak_db_connections is not None and 0 < result.peak_db_connections <= bound
    _assert_run_files(result)


def test_pgbouncer_repro_bounds_postgres_and_moves_the_exhaustion_to_its_hop(incident_run):
    result = incident_run("pgbouncer", "repro")
    pool = 20
    assert result.peak_db_connections is not None and result.peak_db_connections <= pool
    moved = {e["target"] for e in result.errors if EADDRNOTAVAIL in e["kind"]}
    # Where the errors went: the app -> PgBouncer hop, never Postgres itself.
    assert moved == {"pgbouncer:6432"}, result.errors
    assert result.error_count(EADDRNOTAVAIL) == _non_2xx(result)
    record = _assert_run_files(result)
    assert record["versions"]["pgbouncer"]


def test_pgbouncer_local_repro_needs_no_ephemeral_ports(incident_run):
    result = incident_run("pgbouncer-local", "repro")
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert result.peak_db_connections is not None and result.peak_db_connections <= 20
    # Whatever still fails is recorded by kind (the socket's listen backlog: EAGAIN).
    assert sum(e["count"] for e in result.errors) == _non_2xx(result)
    assert all(e["target"].startswith("/run/pgbouncer") for e in result.errors), result.errors


def test_direct_tuned_has_no_port_exhaustion(incident_run):
    result = incident_run("direct", "tuned")
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert result.summary.status_counts == {"200": 10000}, result.summary.status_counts


def test_keepalive_hides_the_problem_under_eventlet(incident_run):
    """One greenlet per client connection: with keep-alive, 500 clients mean
    about 500 persistent DB connections, which fit in 1,000 ports."""
    params = loadrun.LoadParams(vus=500, iterations=10000, keepalive=True)
    result = incident_run("persistent", "repro", params=params)
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert result.summary.status_counts == {"200": 10000}, result.summary.status_counts
