"""churnlab.hostrun writes run.json for Ansible load runs in the compose lab's form."""
import json

from churnlab import hostrun


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
    line = ('2026-11-24 ERROR roles healthz-db-error OperationalError: could not connect to server: '
            'Cannot assign requested address')
    (tmp_path / "app.log").write_text("\n".join([line] * 3) + "\nother\n")
    (tmp_path / "db-connections.csv").write_text("ts,client_backends,active,max_connections\n"
                                                 "1.0,5,1,4096\n\n2.0,17,3,4096\n")
    assert hostrun.main([str(tmp_path)]) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert set(run) == {"run_id", "started", "finished", "selection", "app_settings", "load", "summary",
                        "app_errors", "db", "versions"}
    assert run["selection"]["variant"] == "direct" and run["selection"]["via"] == "ansible"
    assert run["summary"]["requests"] == 10000
    assert run["summary"]["status_counts"] == {"200": 5000, "499": 5000}
    assert run["app_errors"] == [{"kind": "EADDRNOTAVAIL: Cannot assign requested address",
                                  "target": "", "count": 3}]
    assert run["db"] == {"peak_client_backends": 17, "samples": 2, "probe_error": None, "max_connections": 4096}
