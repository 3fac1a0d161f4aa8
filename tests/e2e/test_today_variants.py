"""Today's stack: Django 5.2, psycopg 3, gunicorn 27.

The same ab shape as the incident's (no keep-alive, 500 clients), with 3,000
requests: enough to use up the repro profile's 1,000 ports when each request
opens a connection, and to show a pool's bound when it holds. Each test
asserts the outcome measured for its variant: error kinds and counts, and DB
connections against the bound the variant's data declares."""
import json
import re

import pytest

from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.load import run as loadrun
from tests.e2e.conftest import SHORT_LOAD
from tests.e2e.outcomes import assert_no_db_errors
from tests.e2e.probe import assert_ran, probing

EADDRNOTAVAIL = "Cannot assign requested address"
PROBE_SECONDS = 12  # into the ASGI trap's failures (its 3,000 requests take 15-20 s; the range fills at 5-10 s)
pytestmark = pytest.mark.e2e


def _today_versions(result) -> dict:
    record = json.loads((result.run_dir / "run.json").read_text())
    app = record["versions"]["app"]
    assert app["django"].startswith("5.2.") and app["gunicorn"].startswith("27.")
    assert app["psycopg"].startswith("3.") and app["psycopg2"] is None and app["eventlet"] is None
    assert record["load"]["vus"] == 500 and record["load"]["keepalive"] is False
    return record


def _pool_held(result, most: int, headline: str) -> dict:
    """A pooled variant served the load: no DB error, its peak of DB connections within `most`,
    a healthy verdict that names its bound; its run.json, for the rest."""
    assert_no_db_errors(result)  # of 3,000 requests: at most 3 transport failures
    assert result.peak_db_connections is not None and 0 < result.peak_db_connections <= most
    assert result.verdict.case == diagnosis.HEALTHY
    assert headline in result.verdict.headline
    return _today_versions(result)


def _bound(variant: str) -> int:
    preset = catalog.variant(variant)
    return int(preset["workers"]) * int(preset["pool_max_size"])


def test_gevent_keeps_the_greenlet_local_churn(incident_run):
    """gunicorn's gevent worker is today's eventlet: CONN_MAX_AGE=600 is per
    greenlet, each request is a new greenlet, so each opens a connection."""
    result = incident_run("gevent", "repro", params=SHORT_LOAD)
    s = result.summary
    assert s.requests == 3000
    failed = result.error_count(EADDRNOTAVAIL)
    assert failed >= 1000 and failed == s.status_counts.get("499", 0), (s.status_counts, result.errors)
    # psycopg 3 resolves the host itself: libpq's message names the address.
    assert {e["target"].rsplit(":", 1)[1] for e in result.errors} == {"5432"}
    assert result.verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert "greenlet-local connections under gevent" in result.verdict.headline
    assert any(f.shown_by == "VARIANT=gthread" for f in result.verdict.fixes)
    assert _today_versions(result)["evidence"]["peak_port_use_pct"] >= 95


def test_gevent_pool_serves_without_errors_but_overshoots_max_conns_at_the_burst(incident_run):
    """django-db-geventpool reuses its connections (no exhaustion), but MAX_CONNS
    is checked before a connection exists: a burst of greenlets all see room and
    all connect, so the first second goes above workers x MAX_CONNS."""
    result = incident_run("gevent-pool", "repro", params=SHORT_LOAD)
    record = _pool_held(result, 500, f"workers x pool max_size = {_bound('gevent-pool')}")
    assert record["versions"]["app"]["django_db_geventpool"].startswith("4.0.")
    assert record["evidence"]["peak_port_use_pct"] < 95


def test_native_pool_holds_within_workers_x_max_size(incident_run):
    result = incident_run("native-pool", "repro", params=SHORT_LOAD)
    bound = _bound("native-pool")
    assert bound == 160
    record = _pool_held(result, bound, f"within workers x pool max_size = {bound} (native pool)")
    assert record["versions"]["app"]["psycopg_pool"].startswith("3.")
    assert record["evidence"]["peak_port_use_pct"] < 50


def test_pgbouncer_today_loses_prepared_statements_between_server_connections(incident_run):
    """server_side_binding + prepare_threshold=5 with persistent connections:
    psycopg 3 prepares `_pg3_N` on one PgBouncer server connection, and the next
    transaction runs on another (measured: 1,073 of 5,000 failed)."""
    result = incident_run("pgbouncer-today", "repro", params=SHORT_LOAD)
    failed = result.error_count("prepared statement")
    assert failed >= 100 and failed == result.summary.status_counts.get("499", 0), result.errors
    assert {e["kind"] for e in result.errors} <= {"prepared statement does not exist",
                                                  "prepared statement already exists"}, result.errors
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert result.verdict.case == diagnosis.PREPARED_STATEMENTS
    assert result.verdict.fixes[0].shown_by == "VARIANT=pgbouncer-today-fixed"
    record = _today_versions(result)
    assert record["evidence"]["peak_pgbouncer_server_connections"] <= 20


# -- ASGI: gunicorn with uvicorn's worker, serving labapp.asgi (sync DRF views) --
def _uvicorn_served(result) -> dict:
    record = _today_versions(result)
    assert record["app_settings"]["WORKER_CLASS"] == "uvicorn"
    assert record["versions"]["app"]["uvicorn"].startswith("0.55.")
    return record


def test_asgi_leaks_its_connections_into_the_port_range(fresh_lab, tmp_path):
    """CONN_MAX_AGE=600 under ASGI (Django ticket #33497): each request's connection is kept
    open and never reused. Postgres sees far more idle connections than the 6 requests that
    can use one at once, and they fill the repro range while still ESTABLISHED (measured with
    10,000 requests: 364 idle of 376 backends, 839 ESTABLISHED and 161 TIME_WAIT of 1,000
    ports when it ran out, 8,914 failed). The read-only probe, from outside, during the load."""
    stack = fresh_lab("asgi", "repro")
    with probing(stack, tmp_path, seconds=PROBE_SECONDS) as probe:
        result = loadrun.run(stack, SHORT_LOAD)
    failed = result.error_count(EADDRNOTAVAIL)
    assert failed >= 1000 and failed == result.summary.status_counts.get("499", 0), result.errors
    verdict = result.verdict
    assert verdict.case == diagnosis.CONNECTION_LEAK, verdict.headline
    assert verdict.headline.startswith("connections leak (") and "idle, growing)" in verdict.headline
    assert "while at most 6 requests can use one at once" in verdict.headline
    assert "ESTABLISHED and" in verdict.headline and "TIME_WAIT of 1,000 when the range ran out" in verdict.headline
    assert f"{failed:,} of 3,000 requests failed with EADDRNOTAVAIL" in verdict.headline
    # the fixes follow the latest rank's order (gthread 4 x 16 led it): the pool is among them
    assert any(f.shown_by == "VARIANT=asgi-pool" for f in verdict.fixes), verdict.fixes
    record = _uvicorn_served(result)
    assert record["evidence"]["peak_port_use_pct"] >= 95
    assert 6 < result.peak_db_connections < 1000
    # the probe, with sockets only (no pg_stat_activity): the ESTABLISHED ones toward the DB show the leak
    assert_ran(probe, result.run_dir)
    assert "6 worker processes, worker class asgi (from config labapp/gunicorn.conf.py)" in probe["out"], probe["out"]
    assert probe["verdict"].case == diagnosis.CONNECTION_LEAK, probe["out"]
    assert re.search(r"verdict \(connection-leak\): connections leak \(\d+ ESTABLISHED toward [\d.]+:5432, "
                     r"growing\): .* while at most 6 requests can use one at once", probe["out"]), probe["out"]


def test_asgi_pool_holds_within_workers_x_max_size(incident_run):
    result = incident_run("asgi-pool", "repro", params=SHORT_LOAD)
    bound = _bound("asgi-pool")
    assert bound == 240
    record = _pool_held(result, bound, f"within workers x pool max_size = {bound} (native pool)")
    _uvicorn_served(result)
    assert record["evidence"]["peak_port_use_pct"] < 50
