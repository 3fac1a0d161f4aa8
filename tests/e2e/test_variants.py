"""The incident's `ab -c 500`, with no keep-alive, on each variant (SHORT_LOAD: 3,000 requests,
three times what uses up the repro range; the incident's full 10,000 runs on the hosts).

Each test asserts the outcome the lab claims for that variant: error kinds,
counts and bounds, read from k6's summary, the app's log and Postgres."""
import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest

from churnlab import diagnosis
from churnlab.compose import lab
from churnlab.compose.recorder import netns_snapshot
from churnlab.core import run_record
from churnlab.core.paths import ROOT
from churnlab.live import sample as live
from churnlab.load import run as loadrun
from churnlab.reports import matrix
from tests.e2e import alerts
from tests.e2e.conftest import SHORT_LOAD
from tests.e2e.outcomes import assert_no_db_errors
from tests.e2e.probe import assert_ran, probing

EADDRNOTAVAIL = "Cannot assign requested address"
pytestmark = pytest.mark.e2e
RUNS: dict[str, Path] = {}  # the direct and gthread repro runs, for the matrix report after them


def _db_failures(result):
    """Requests the app answered 499: the view caught a DB exception."""
    return result.summary.status_counts.get("499", 0)


def _assert_few_transport_failures(result):
    """k6 status 0 (e.g. a reset from the eventlet listener when the machine is
    starved of CPU) is not a DB failure; it is recorded and kept rare."""
    counts = result.summary.status_counts
    assert set(counts) <= {"200", "499", "0"}, counts
    assert counts.get("0", 0) <= result.summary.requests // 100, counts


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


def test_direct_repro_exhausts_ephemeral_ports_toward_postgres(fresh_lab, tmp_path):
    """Also OBSERVE=1: Prometheus with the lab's alert rules sees it coming (the predictive port alert
    firing before the first failed request, to the millisecond of the app's log line)."""
    stack = fresh_lab("direct", "repro", observe=True)
    # the read-only probe, from outside, and Prometheus's alerts, during the load
    with probing(stack, tmp_path) as probe, alerts.watching(until_firing=alerts.PORT_ALERT) as watch:
        result = loadrun.run(stack, SHORT_LOAD)
    s = result.summary
    assert s.requests == 3000
    assert s.status_counts.get("499", 0) >= 1000, s.status_counts  # on the hosts: 1,919 of 3,000
    assert s.error_rate >= 0.4
    failed = result.error_count(EADDRNOTAVAIL)
    assert failed >= 1000
    targets = {e["target"] for e in result.errors if EADDRNOTAVAIL in e["kind"]}
    assert targets == {"db:5432"}
    # Every 499 is one logged failure: the log accounts for all of them.
    assert sum(e["count"] for e in result.errors) == s.status_counts["499"]
    record = _assert_run_files(result)
    assert result.verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert record["verdict"]["headline"].startswith("ephemeral port exhaustion toward db:5432")
    assert record["evidence"]["peak_port_use_pct"] >= 95  # the 1,000-port range was used up
    assert any(f.shown_by == "VARIANT=gthread" for f in result.verdict.fixes)
    RUNS["direct"] = result.run_dir
    budget = _budget_toward(record, "db:5432")  # the port budget predicted it, before the first failure
    assert budget["headroom"] < 0 and budget["predicted_exhaustion_at"] is not None, budget
    assert budget["failed_connections"] >= 1000 and budget["first_error_at"] is not None, budget
    assert budget["range_size"] == 1000 and budget["peak_rate"] > budget["sustainable_rate"], budget
    assert budget["crossed_at"] <= budget["first_error_at"], budget
    _sampler_agrees_with_ss(lab.current_stack())
    _probe_names_the_exhaustion(probe, result.run_dir)
    # make diagnose on the running lab, right after the load (its TIME_WAIT and the app's log): the same verdict
    verdict = live.diagnose(stack, seconds=3)
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES, verdict.headline
    assert "toward db:5432" in verdict.headline
    _port_alert_fired_before_the_first_failed_request(watch, result.run_dir)


def _port_alert_fired_before_the_first_failed_request(watch, run_dir) -> None:
    first_failure = alerts.first_failure(run_dir)
    assert first_failure is not None
    firing = watch.firing_since.get(alerts.PORT_ALERT)
    assert firing is not None, f"{alerts.PORT_ALERT} never fired; seen: {sorted(watch.first_seen)}"
    assert firing < first_failure, f"{alerts.PORT_ALERT} fired {firing - first_failure:+.2f} s after the first failure"
    assert watch.labels[alerts.PORT_ALERT]["name"] == "db:5432"
    print(f"{alerts.PORT_ALERT}: firing {first_failure - firing:.2f} s before the first failed request")


def _probe_names_the_exhaustion(probe: dict, run_dir) -> None:
    """The probe knows nothing of the lab: it found the eventlet workers, the destination and the mechanism."""
    assert_ran(probe, run_dir)
    assert "worker class eventlet (from config labapp/gunicorn.conf.py)" in probe["out"], probe["out"]
    assert "verdict (port-exhaustion-postgres): ephemeral port exhaustion toward db:5432" in probe["out"]
    assert "worker class eventlet: churns" in probe["out"]
    budget = next(b for b in probe["verdict"].evidence if b.startswith("port budget toward db:5432 ("))
    assert "of 1,000: headroom" in budget and "the range recycles 16.7 new connections/s" in budget, budget


def _budget_toward(record: dict, target: str) -> dict:
    return next(b for b in record["evidence"]["port_budget"] if b["target"] == target)


def _ss_count(stack, *filters) -> int:
    proc = stack.exec("app", "ss", "-Htan", *filters)
    assert proc.returncode == 0, proc.stderr
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def _sampler_agrees_with_ss(stack):
    """Independent count: ss inside the same namespace, taken just before and
    just after the sampler (TIME_WAIT only decays between the two)."""
    db_ip = stack.exec("app", "python3", "-c", "import socket; print(socket.gethostbyname('db'))").stdout.strip()
    assert re.fullmatch(r"[0-9.]+", db_ip)
    before = _ss_count(stack, "state", "time-wait", "dst", f"{db_ip}:5432")
    sample = netns_snapshot(stack, ["db:5432"])
    after = _ss_count(stack, "state", "time-wait", "dst", f"{db_ip}:5432")
    assert before >= 500  # the run left most of the range in TIME_WAIT
    counted = sample["targets"]["db:5432"]["time_wait"]
    tolerance = max(5, int(0.02 * before))
    assert after - tolerance <= counted <= before + tolerance, (before, counted, after)
    assert sample["port_range_size"] == 1000 and sample["tcp_tw_reuse"] == 0


def test_persistent_repro_without_keepalive_fails_the_same_way(incident_run):
    result = incident_run("persistent", "repro", params=SHORT_LOAD)
    assert result.settings["CONN_MAX_AGE"] == "600"
    assert result.summary.error_rate >= 0.4  # measured: 1,894 of 3,000
    assert result.error_count(EADDRNOTAVAIL) >= 1000


def test_gthread_repro_holds_with_bounded_connections(fresh_lab, tmp_path):
    """Also OBSERVE=1: neither the port alert nor the churn alert ever leaves inactive."""
    stack = fresh_lab("gthread", "repro", observe=True)
    # a held load needs no failure seen: the probe watches its first seconds, the pool filling
    with probing(stack, tmp_path, seconds=12) as probe, alerts.watching() as watch:
        result = loadrun.run(stack, SHORT_LOAD)
    s = result.summary
    bound = int(result.settings["WORKERS"]) * int(result.settings["THREADS"])
    assert bound == 800
    assert s.requests == 3000
    assert_no_db_errors(result)
    assert result.peak_db_connections is not None and 0 < result.peak_db_connections <= bound
    record = _assert_run_files(result)
    assert result.verdict.case == diagnosis.HEALTHY
    assert f"within workers x threads = {bound:,}" in result.verdict.headline
    RUNS["gthread"] = result.run_dir
    budget = _budget_toward(record, "db:5432")  # a bounded pool: headroom left in the range
    assert budget["headroom"] > 0 and budget["ports_needed"] <= bound and budget["failed_connections"] == 0, budget
    assert budget["predicted_exhaustion_at"] is None, budget
    assert any(line.startswith("port budget toward db:5432") for line in record["verdict"]["evidence"])
    assert_ran(probe, result.run_dir)
    assert "worker class gthread (from config labapp/gunicorn.conf.py), threads 40" in probe["out"], probe["out"]
    assert "verdict (healthy): healthy: 0 requests failed" in probe["out"]
    assert "within workers x threads = 800" in probe["out"] and "worker class gthread: holds" in probe["out"]
    assert watch.first(alerts.PORT_ALERT) is None, sorted(watch.first_seen)
    assert watch.first(alerts.CHURN_ALERT) is None, sorted(watch.first_seen)


def test_the_direct_and_gthread_runs_render_a_matrix_report_that_matches_them(incident_run):
    """make matrix's files (summary.md, report.html: one plot per run, k6's own dashboards linked, all
    offline) over the two runs above, the lab down; make diagnose RUN=<id> reads the direct run's folder
    alone. Run alone (-k): the two runs first."""
    run_dirs = [RUNS.get(v) or incident_run(v, "repro").run_dir for v in ("direct", "gthread")]
    lab.down()
    matrix_id, matrix_dir = matrix.new_dir()
    combos = [(variant, "repro", SHORT_LOAD.vus) for variant in ("direct", "gthread")]
    page = matrix.write_outputs(matrix_dir, matrix_id, combos, SHORT_LOAD.iterations, False, run_dirs,
                                None).read_text()
    assert page.count('class="plotly-graph-div"') == 2  # one plot per run
    assert "<script src=" not in page  # plotly.js is inlined: the file works offline
    table = (matrix_dir / "summary.md").read_text()
    for run_dir in run_dirs:
        record = json.loads((run_dir / "run.json").read_text())
        row = next(line for line in table.splitlines() if line.startswith(f"| {record['run_id']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:6] == [record["selection"]["variant"], "repro", "off", "500", f"{record['summary']['rps']:,.0f}"]
        assert cells[6] == f"{100 * record['summary']['error_rate']:.1f}"
        assert cells[10] == f"{record['db']['peak_client_backends']:,}"
        assert cells[11] == record["verdict"]["case"]
        # k6's own dashboard: one self-contained page per run, linked from the report.
        _assert_self_contained(run_dir / run_record.DASHBOARD)
        assert f'href="../{run_dir.name}/{run_record.DASHBOARD}"' in page
    assert json.loads((matrix_dir / "matrix.json").read_text())["runs"] == [d.name for d in run_dirs]

    # make diagnose RUN=<id> reads a finished run's folder, the lab being down.
    direct = json.loads((run_dirs[0] / "run.json").read_text())
    proc = subprocess.run(["make", "-s", "diagnose", f"RUN={direct['run_id']}"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    shown = proc.stderr  # the CLI's one console writes to stderr
    assert "verdict (port-exhaustion-postgres)" in shown
    assert re.search(r"[\d,]+ of 3,000 requests failed with EADDRNOTAVAIL", shown.replace("\n", " "))
    assert "VARIANT=gthread" in shown
    assert re.search(r"port budget toward db:5432 .*: headroom -[\d,]+", shown), shown
    assert "exhaustion predicted at" in shown


def _assert_self_contained(path):
    """An HTML file that works offline: no script or style fetched from elsewhere."""
    text = path.read_text()
    assert len(text) > 10_000 and "<script" in text, path
    external = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^>]*>", text, re.I)
    assert external == [], external


def test_pgbouncer_repro_bounds_postgres_and_moves_the_exhaustion_to_its_hop(incident_run):
    result = incident_run("pgbouncer", "repro", params=SHORT_LOAD)
    pool = 20
    assert result.peak_db_connections is not None and result.peak_db_connections <= pool
    moved = {e["target"] for e in result.errors if EADDRNOTAVAIL in e["kind"]}
    # Where the errors went: the app -> PgBouncer hop, never Postgres itself.
    assert moved == {"pgbouncer:6432"}, result.errors
    assert result.error_count(EADDRNOTAVAIL) == _db_failures(result) >= 1000  # measured: 1,357 of 3,000
    _assert_few_transport_failures(result)
    record = _assert_run_files(result)
    assert record["versions"]["pgbouncer"]
    assert result.verdict.case == diagnosis.PORT_EXHAUSTION_PGBOUNCER
    assert record["evidence"]["peak_pgbouncer_server_connections"] <= pool


def test_pgbouncer_local_repro_needs_no_ephemeral_ports(incident_run):
    result = incident_run("pgbouncer-local", "repro", params=SHORT_LOAD)
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert result.peak_db_connections is not None and result.peak_db_connections <= 20
    # Whatever still fails is recorded by kind (the socket's listen backlog: EAGAIN).
    assert sum(e["count"] for e in result.errors) == _db_failures(result)
    _assert_few_transport_failures(result)
    assert all(e["target"].startswith("/run/pgbouncer") for e in result.errors), result.errors
    expected = diagnosis.SOCKET_BACKLOG if result.errors else diagnosis.HEALTHY
    assert result.verdict.case == expected, result.verdict.headline


def test_direct_tuned_has_no_port_exhaustion(incident_run):
    result = incident_run("direct", "tuned", params=SHORT_LOAD)
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert_no_db_errors(result)
    assert result.verdict.case == diagnosis.HEALTHY


def test_keepalive_hides_the_problem_under_eventlet(incident_run):
    """One greenlet per client connection: with keep-alive, 500 clients mean
    about 500 persistent DB connections, which fit in 1,000 ports. The same 3,000
    requests that fail persistent without keep-alive (above): six per client."""
    params = dataclasses.replace(SHORT_LOAD, keepalive=True)
    result = incident_run("persistent", "repro", params=params)
    assert result.error_count(EADDRNOTAVAIL) == 0
    assert_no_db_errors(result)
