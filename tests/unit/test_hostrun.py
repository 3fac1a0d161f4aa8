"""churnlab.hosts.run builds the run record of an Ansible load run from the raw files load.yml fetched."""
import json

import pytest

from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.evidence import sockets
from churnlab.hosts import run as hostrun

DB = "192.168.240.11"


def fetched(tmp_path, **facts):
    """A staging folder as load.yml leaves it: raw output and what the hosts reported."""
    fetch = tmp_path / ".incoming-1"
    fetch.mkdir()
    (fetch / "host-facts.json").write_text(json.dumps({
        "app_fact": {"variant": "direct", "service": "churnlab-app", "port": 8000,
                     "settings": {"WORKER_CLASS": "eventlet", "CONN_MAX_AGE": "0", "DB_HOST": DB, "DB_PORT": "5432"}},
        "profile": "repro", "hosts": {"app": "app1", "db": "db1", "loadgen": "loadgen1"},
        "load": {"scenario": "ab", "vus": "500", "iterations": "10000", "keepalive": "False",
                 "endpoint": "/api/v1/healthz/"},
        "started_epoch": "1764020225.5", "finished_epoch": "1764020240.1", "k6_rc": "99",
        "versions": {"app": '{"django": "4.2.16"}', "postgres": "15.14", "k6": "k6 v1.1.0"}, **facts}))
    return fetch


def test_run_json_from_fetched_files(tmp_path):
    fetch = fetched(tmp_path)
    metrics = {
        "http_reqs{scenario:ab}": {"values": {"count": 10000, "rate": 900.0}},
        "http_req_failed{scenario:ab}": {"values": {"rate": 0.5}},
        "http_req_duration{scenario:ab}": {"values": {"med": 10, "p(95)": 50, "p(99)": 90, "max": 100}},
        "http_reqs{scenario:ab,status:200}": {"values": {"count": 5000}},
        "http_reqs{scenario:ab,status:499}": {"values": {"count": 5000}},
    }
    (fetch / "k6-summary.json").write_text(json.dumps(
        {"metrics": metrics, "lab": {"scenario": "ab", "vus": 500, "tracked_status": ["200", "499"]}}))
    # The app logs the first line of the exception (labapp's view).
    line = ('2026-11-24 21:37:05,000 ERROR roles healthz-db-error OperationalError: connection to server at '
            f'"{DB}" ({DB}), port 5432 failed: Cannot assign requested address')
    (fetch / "app.log").write_text("\n".join([line] * 3) + "\nother\n")
    # psql \watch output of evidence/pg_sample.sql: JSON lines, blank lines between.
    sample = '{{"ts" : {ts}, "source" : "postgres", "client_backends" : {n}, "by_state" : {{"active" : 1}}, ' \
             '"max_connections" : 4096}}'
    (fetch / "postgres.jsonl").write_text(sample.format(ts=2.0, n=17) + "\n\n" + sample.format(ts=1.0, n=5) + "\n")
    # What sockets.py printed on the app host: the 1,000-port range used up toward the DB.
    rows = [("192.168.240.13", 50000 + i, DB, 5432, "TIME_WAIT") for i in range(1000)]
    netns = sockets.summarise(rows, {"port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0},
                              {f"{DB}:5432": (DB, 5432)}, ts=1.5)
    (fetch / "netns.jsonl").write_text(json.dumps(netns) + "\n")
    assert hostrun.main([str(fetch)]) == 0
    run_dir = tmp_path / "20251124T213705Z-direct-repro-ab-c500"
    assert not fetch.exists() and run_dir.is_dir()  # named by run_record.run_id, from what the hosts reported
    run = run_record.read(run_dir)
    assert run.run_id == run_dir.name and run.status == run_record.FINISHED and run.problems == []
    assert run.selection.variant == "direct" and run.selection.via == "ansible" and run.selection.hosts["db"] == "db1"
    assert run.load.vus == 500 and run.load.keepalive is False
    assert run.summary["requests"] == 10000
    assert run.summary["status_counts"] == {"200": 5000, "499": 5000}
    assert run.app_errors == [{"kind": "EADDRNOTAVAIL: Cannot assign requested address",
                               "target": f"{DB}:5432", "count": 3}]
    assert run.versions == {"postgres": "15.14", "k6": "k6 v1.1.0", "app": {"django": "4.2.16"}}
    # The same evidence and verdict as a compose run: diagnosis reads both alike.
    evidence = run_record.read_evidence(run_dir / "evidence.jsonl")
    assert {r["source"] for r in evidence} == {"netns", "postgres", "app_errors"}
    assert [r["ts"] for r in evidence] == sorted(r["ts"] for r in evidence)
    assert run.verdict["case"] == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert run.verdict["headline"].startswith(f"ephemeral port exhaustion toward {DB}:5432: 1,000 of 1,000")
    assert run.evidence.peak_port_use_pct == 100.0
    assert (run.db.peak_client_backends, run.db.samples, run.db.max_connections) == (17, 2, 4096)


def test_a_failed_k6_and_missing_probes_are_recorded(tmp_path):
    fetch = fetched(tmp_path, k6_rc="107", versions={"app": "", "postgres": "15.14", "k6": "k6 v1.1.0"})
    (fetch / "k6.log").write_text("ERRO[0000] smoke check failed: GET http://192.168.240.13:1/api/v1/ping/\n")
    assert hostrun.main([str(fetch)]) == 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    run = run_record.read(run_dir)
    assert run.status == run_record.FAILED and run.summary is None and run.verdict is None
    assert run.problems[0].startswith("k6 failed (exit 107): ERRO[0000] smoke check failed")
    assert "postgres sampler: postgres.jsonl was not fetched" in run.problems
    assert "netns sampler: netns.jsonl was not fetched" in run.problems
    assert "versions: app did not answer" in run.problems


def test_a_load_through_the_hosts_front_records_the_front_and_its_target(tmp_path):
    """load.yml targets the app host's HTTPS front when the front role left its fact."""
    fetch = fetched(tmp_path, front="https",
                    load={"scenario": "ab", "vus": "50", "iterations": "100", "keepalive": "False",
                          "endpoint": "/api/v1/healthz/", "target": "https://192.168.240.13:443"})
    record = hostrun.build(fetch).record
    assert record.selection.front == "https"
    assert record.load.target == "https://192.168.240.13:443"
    plain = hostrun.build(fetched(tmp_path / "plain" if (tmp_path / "plain").mkdir() is None else tmp_path)).record
    assert plain.selection.front == "none" and plain.load.target == ""


@pytest.mark.parametrize("summary_text, why", [
    ("", "k6-summary.json is empty"),
    ('{"metrics": {"http_reqs{scenario:ab}": {"values": {"cou', "k6-summary.json is cut short or damaged"),
    ('{"not": "k6"}', "k6-summary.json has no metrics"),
])
def test_an_unreadable_k6_summary_still_gives_a_run_json_that_says_why(tmp_path, summary_text, why):
    """k6 ran to its end (exit 99) but its summary is empty, cut short or not k6's: run.json is written,
    the run is failed and names the part that is missing, and the diagnosis says it cannot judge it."""
    fetch = fetched(tmp_path)
    (fetch / "k6-summary.json").write_text(summary_text)
    (fetch / "app.log").write_text("")
    assert hostrun.main([str(fetch)]) == 0
    run_dir = tmp_path / "20251124T213705Z-direct-repro-ab-c500"
    record = run_record.read(run_dir)
    assert record.status == run_record.FAILED and record.summary is None and record.verdict is None
    assert any(p.startswith("k6: " + why) for p in record.problems), record.problems
    verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    assert verdict.case == diagnosis.UNCLASSIFIED
    assert verdict.headline.startswith("cannot judge: the requests' outcome") and why in verdict.headline
