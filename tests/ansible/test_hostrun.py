"""churnlab.hostrun writes run.json for Ansible load runs in the compose lab's form."""
import json

from churnlab import diagnosis, hostrun
from churnlab.evidence import sockets

DB = "192.168.240.11"


def test_run_json_from_fetched_files(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({
        "run_id": "20261124T000000Z-direct-repro-ab-c500", "started": "s", "finished": "f",
        "variant": "direct", "profile": "repro", "app_settings": {"WORKER_CLASS": "eventlet"},
        "load": {"scenario": "ab", "vus": 500, "iterations": 10000}, "versions": {"postgres": "15.14"}}))
    metrics = {
        "http_reqs{scenario:ab}": {"values": {"count": 10000, "rate": 900.0}},
        "http_req_failed{scenario:ab}": {"values": {"rate": 0.5}},
        "http_req_duration{scenario:ab}": {"values": {"med": 10, "p(95)": 50, "p(99)": 90, "max": 100}},
        "http_reqs{scenario:ab,status:200}": {"values": {"count": 5000}},
        "http_reqs{scenario:ab,status:499}": {"values": {"count": 5000}},
    }
    (tmp_path / "k6-summary.json").write_text(json.dumps(
        {"metrics": metrics, "lab": {"scenario": "ab", "vus": 500, "tracked_status": ["200", "499"]}}))
    # The app logs the first line of the exception (labapp's view).
    line = ('2026-11-24 21:37:05,000 ERROR roles healthz-db-error OperationalError: connection to server at '
            f'"{DB}" ({DB}), port 5432 failed: Cannot assign requested address')
    (tmp_path / "app.log").write_text("\n".join([line] * 3) + "\nother\n")
    (tmp_path / "db-connections.csv").write_text("ts,client_backends,active,max_connections\n"
                                                 "1.0,5,1,4096\n\n2.0,17,3,4096\n")
    # What sockets.py printed on the app host: the 1,000-port range used up toward the DB.
    rows = [("192.168.240.13", 50000 + i, DB, 5432, "TIME_WAIT") for i in range(1000)]
    netns = sockets.summarise(rows, {"port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0},
                              {f"{DB}:5432": (DB, 5432)}, ts=1.5)
    (tmp_path / "netns.jsonl").write_text(json.dumps(netns) + "\n")
    assert hostrun.main([str(tmp_path)]) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert set(run) == {"run_id", "started", "finished", "selection", "app_settings", "load", "summary",
                        "app_errors", "db", "evidence", "versions", "verdict"}
    assert run["selection"]["variant"] == "direct" and run["selection"]["via"] == "ansible"
    assert run["summary"]["requests"] == 10000
    assert run["summary"]["status_counts"] == {"200": 5000, "499": 5000}
    assert run["app_errors"] == [{"kind": "EADDRNOTAVAIL: Cannot assign requested address",
                                  "target": f"{DB}:5432", "count": 3}]
    # The same evidence and verdict as a compose run: diagnosis reads both alike.
    sources = {r["source"] for r in diagnosis.read_evidence(tmp_path / "evidence.jsonl")}
    assert sources == {"netns", "postgres", "app_errors"}
    assert run["verdict"]["case"] == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert run["verdict"]["headline"].startswith(f"ephemeral port exhaustion toward {DB}:5432: 1,000 of 1,000")
    assert run["evidence"]["peak_port_use_pct"] == 100.0
    assert run["db"] == {"peak_client_backends": 17, "samples": 2, "probe_error": None, "max_connections": 4096}


def test_hostdiag_gives_the_verdict_from_what_a_host_reported():
    import subprocess
    import sys

    from churnlab.paths import ROOT

    rows = [("192.168.240.13", 50000 + i, DB, 6432, "TIME_WAIT") for i in range(990)]
    netns = sockets.summarise(rows, {"port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0},
                              {f"{DB}:6432": (DB, 6432)}, ts=2.0)
    line = (f"2026-11-24T22:01:05+0000 app1 gunicorn[7]: 2026-11-24 22:01:05,678 ERROR roles healthz-db-error "
            f'OperationalError: connection to server at "{DB}" ({DB}), port 6432 failed: '
            "Cannot assign requested address")
    payload = {"host": "app1", "profile": "repro",
               "app": {"variant": "pgbouncer", "settings": {"WORKER_CLASS": "eventlet", "CONN_MAX_AGE": "0",
                                                            "DB_HOST": DB, "DB_PORT": "6432"}},
               "netns": json.dumps(netns), "db": "1.0,20,4096", "log": "\n".join([line] * 40)}
    proc = subprocess.run([sys.executable, "-m", "churnlab.hostdiag"], input=json.dumps(payload),
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout.splitlines()[-1])
    assert verdict["case"] == diagnosis.PORT_EXHAUSTION_PGBOUNCER
    assert "990 of 1,000 local ports" in verdict["headline"] and "40 requests failed" in verdict["headline"]
    assert proc.stdout.startswith("app1: verdict (port-exhaustion-pgbouncer)")
    bad = subprocess.run([sys.executable, "-m", "churnlab.hostdiag"], input="not json", capture_output=True,
                         text=True, cwd=ROOT)
    assert bad.returncode == 2 and "stdin is not JSON" in bad.stderr
