"""Failure lines from the app's log are counted by kind and by target."""
from churnlab.evidence import app_errors

PREFIX = "2026-11-24 21:37:05,678 ERROR roles healthz-db-error "
LINES = [
    PREFIX + 'OperationalError: connection to server at "db" (172.18.0.2), port 5432 failed: '
             "Cannot assign requested address",
    PREFIX + 'OperationalError: connection to server at "db" (172.18.0.2), port 5432 failed: '
             "Cannot assign requested address",
    PREFIX + 'OperationalError: connection to server at "pgbouncer" (172.18.0.4), port 6432 failed: '
             "Cannot assign requested address",
    PREFIX + 'OperationalError: connection to server on socket "/run/pgbouncer/.s.PGSQL.6432" failed: '
             "Resource temporarily unavailable",
    PREFIX + 'OperationalError: connection to server at "db" (172.18.0.2), port 5432 failed: '
             "FATAL:  sorry, too many clients already",
    PREFIX + "ProgrammingError: relation \"roles_role\" does not exist",
    PREFIX + 'OperationalError: connection to server at "192.168.240.11", port 5432 failed: '
             "Cannot assign requested address",
    "[2026-11-24 21:37:05 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:7)",
    "[2026-11-24 21:37:05 +0000] [7] [INFO] Booting worker with pid: 7",
    "an unrelated line mentioning Cannot assign requested address without the marker",
]


def test_each_line_gets_its_kind_and_target():
    counts = app_errors.count(LINES)
    by_label = {key.label(): n for key, n in counts.items()}
    assert by_label["EADDRNOTAVAIL: Cannot assign requested address (toward db:5432)"] == 2
    assert by_label["EADDRNOTAVAIL: Cannot assign requested address (toward pgbouncer:6432)"] == 1
    assert by_label["EAGAIN: Resource temporarily unavailable (toward /run/pgbouncer/.s.PGSQL.6432)"] == 1
    assert by_label["too many clients (toward db:5432)"] == 1
    assert by_label["gunicorn worker timeout"] == 1
    # A host given as an address: libpq does not repeat it in parentheses.
    assert by_label["EADDRNOTAVAIL: Cannot assign requested address (toward 192.168.240.11:5432)"] == 1
    assert sum(counts.values()) == 8  # the two lines that are not failures are not counted


def test_unknown_failures_keep_their_class_and_message():
    key = app_errors.classify(LINES[5])
    assert key.kind.startswith("ProgrammingError: relation")


def test_records_are_ordered_by_count():
    records = app_errors.as_records(app_errors.count(LINES))
    assert records[0] == {"kind": "EADDRNOTAVAIL: Cannot assign requested address", "target": "db:5432", "count": 2}
