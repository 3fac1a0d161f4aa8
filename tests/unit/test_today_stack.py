"""Today's stack (psycopg 3): its log lines, its verdicts and its variant data.

The log lines are the ones the app's view writes (app/roles/views.py) for the
exceptions measured in the lab: psycopg_pool.PoolTimeout (Django re-raises it
as OperationalError) and psycopg's prepared-statement errors behind PgBouncer."""
import pytest
import yaml

from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.evidence import app_errors

STAMP = "2026-11-25 20:51:40,123 ERROR roles healthz-db-error "
POOL_LINE = STAMP + "OperationalError: couldn't get a connection after 1.00 sec"
MISSING_LINE = STAMP + 'ProgrammingError: prepared statement "_pg3_0" does not exist'
EXISTS_LINE = STAMP + 'ProgrammingError: prepared statement "_pg3_2" already exists'
PSYCOPG3_ADDR = (STAMP + 'OperationalError: connection failed: connection to server at "172.28.0.2", '
                 "port 5432 failed: Cannot assign requested address")


def test_pool_timeouts_and_prepared_statements_get_their_kinds():
    counts = app_errors.count([POOL_LINE] * 3 + [MISSING_LINE] * 2 + [EXISTS_LINE] + ["unrelated"])
    assert {k.kind: n for k, n in counts.items()} == {
        app_errors.POOL_TIMEOUT: 3, app_errors.PREPARED_MISSING: 2, app_errors.PREPARED_EXISTS: 1}


def test_psycopg3_names_the_address_it_resolved():
    key = app_errors.classify(PSYCOPG3_ADDR)
    assert key == app_errors.ErrorKey("EADDRNOTAVAIL: Cannot assign requested address", "172.28.0.2:5432")


def _facts(lines, **settings) -> diagnosis.Facts:
    counts = app_errors.count(lines)
    return diagnosis.Facts(settings=settings, variant=settings.pop("variant", None), profile="repro",
                           requests=10000, failed=sum(counts.values()), errors=app_errors.as_records(counts),
                           peak_db_backends=16)


def test_a_pool_smaller_than_the_concurrency_is_named_with_its_fix():
    facts = _facts([POOL_LINE] * 700, WORKER_CLASS="gthread", WORKERS="4", THREADS="40", DB_POOL="native",
                   DB_POOL_MAX="1", DB_POOL_TIMEOUT="0.1", variant="native-pool-small")
    verdict = diagnosis.diagnose(facts)
    assert verdict.case == diagnosis.POOL_TIMEOUT
    assert "700 of 10,000 requests" in verdict.headline and "PoolTimeout" in verdict.headline
    assert "1 per worker x 4 workers for 40 threads each" in verdict.headline
    assert verdict.fixes[0].shown_by == "VARIANT=native-pool"
    assert "max_size >= threads per worker" in verdict.fixes[0].action


@pytest.mark.parametrize("lines", [[MISSING_LINE] * 5, [EXISTS_LINE] * 5, [MISSING_LINE, EXISTS_LINE] * 3])
def test_prepared_statements_behind_pgbouncer_are_named_with_their_fixes(lines):
    facts = _facts(lines, WORKER_CLASS="gthread", DB_HOST="pgbouncer", DB_PORT="6432",
                   DB_SERVER_SIDE_BINDING="true", variant="pgbouncer-today")
    verdict = diagnosis.diagnose(facts)
    assert verdict.case == diagnosis.PREPARED_STATEMENTS
    assert f"{len(lines):,} of 10,000 requests" in verdict.headline
    actions = [fix.action for fix in verdict.fixes]
    assert "prepare_threshold': None" in actions[0] and "DISABLE_SERVER_SIDE_CURSORS" in actions[0]
    assert verdict.fixes[0].shown_by == "VARIANT=pgbouncer-today-fixed"
    assert any("max_prepared_statements" in a and "1.18" in a for a in actions)


def test_port_exhaustion_still_wins_over_the_pool_cases():
    facts = _facts([PSYCOPG3_ADDR] * 50 + [POOL_LINE], WORKER_CLASS="gevent", CONN_MAX_AGE="600")
    verdict = diagnosis.diagnose(facts)
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert "greenlet-local connections under gevent" in verdict.headline


def test_a_healthy_pool_states_its_bound_and_an_overshoot():
    within = _facts([], WORKERS="4", DB_POOL="native", DB_POOL_MAX="40")
    assert "within workers x pool max_size = 160 (native pool)" in diagnosis.diagnose(within).headline
    over = _facts([], WORKERS="6", DB_POOL="geventpool", DB_POOL_MAX="16")
    over.peak_db_backends = 271
    assert "ABOVE (the pool overshot its bound) workers x pool max_size = 96" in diagnosis.diagnose(over).headline


# -- the variant data --------------------------------------------------------
def test_today_variants_carry_their_settings():
    env = catalog.Selection.of("native-pool", "repro").app_environment()
    assert env["DB_ENGINE"] == "django.db.backends.postgresql" and env["DB_POOL"] == "native"
    assert env["CONN_MAX_AGE"] == "0"
    env = catalog.Selection.of("gevent-pool", "repro").app_environment()
    assert env["DB_ENGINE"] == "django_db_geventpool.backends.postgresql_psycopg3"
    assert catalog.Selection.of("pgbouncer-today-fixed", "repro").app_environment()["DB_PREPARE_THRESHOLD"] == "none"
    overlay = catalog.Selection.of("gevent", "repro").overlay()["services"]["app"]
    assert overlay["image"] == "churnlab/app-today:1"
    assert overlay["build"] == {"args": {"REQUIREMENTS": catalog.TODAY_LOCK}}
    # The incident's variants are unchanged: no psycopg 3 settings, no build args.
    direct = catalog.Selection.of("direct", "repro")
    assert "build" not in direct.overlay()["services"]["app"] and "DB_ENGINE" not in direct.app_environment()


def test_knobs_that_today_stack_cannot_run_are_refused():
    with pytest.raises(LabError, match="WORKER_CLASS='eventlet' is not installed"):
        catalog.Selection.of("gevent", "repro", {"WORKER_CLASS": "eventlet"})
    with pytest.raises(LabError, match="CONN_MAX_AGE must stay 0"):
        catalog.Selection.of("native-pool", "repro", {"CONN_MAX_AGE": "600"})


BASE = {"about": "x", "worker_class": "gthread", "workers": 2, "threads": 4, "conn_max_age": 0,
        "db_path": "direct", "app_image": "churnlab/app-today:1", "app_lock": "requirements-today.txt"}


@pytest.mark.parametrize(("change", "message"), [
    ({"app_lock": "requirements-x.txt"}, "app_lock 'requirements-x.txt'"),
    ({"worker_class": "eventlet"}, "worker_class 'eventlet' is not installed by requirements-today.txt"),
    ({"db_pool": "native", "pool_max_size": 4, "conn_max_age": 600}, "needs conn_max_age 0"),
    ({"db_pool": "geventpool", "pool_max_size": 4}, "needs worker_class gevent"),
    ({"db_pool": "native"}, "needs pool_max_size"),
    ({"pool_max_size": 4}, "need db_pool"),
    ({"db_pool": "native", "pool_max_size": 0}, "POOL_MAX_SIZE='0' must be a whole number from 1 to 1000"),
    ({"db_pool": "native", "pool_max_size": 4, "pool_min_size": 5}, "pool_min_size is above pool_max_size"),
    ({"prepare_threshold": "never"}, 'or "none"'),
    ({"app_lock": "requirements.txt", "worker_class": "eventlet", "prepare_threshold": "none"}, "need(s) psycopg 3"),
    ({"poolsize": 3}, "unknown field(s) poolsize"),
    ({"app_lock": "requirements.txt", "worker_class": "uvicorn"}, "worker_class 'uvicorn' is not installed by"),
    ({"db_pool": "native", "workers": 64, "pool_max_size": 64},
     "its DB bound, workers x pool_max_size = 64 x 64 = 4,096, is not below Postgres' max_connections 4,096"),
])
def test_bad_today_fields_are_one_clear_line(tmp_path, monkeypatch, change, message):
    data = yaml.safe_load(catalog.PRESETS_FILE.read_text())
    data["variants"]["bad"] = {**BASE, **change}
    copy = tmp_path / "presets.yml"
    copy.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CHURNLAB_PRESETS", str(copy))
    with pytest.raises(LabError, match="variant 'bad'") as exc:
        catalog.variants()
    assert message in str(exc.value) and "\n" not in str(exc.value)
