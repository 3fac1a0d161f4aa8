"""run.json: one record, one writer, one reader; old folders still open."""
import json

import pytest
from typer.testing import CliRunner

from churnlab import cli, diagnosis
from churnlab.core import paths, run_record
from churnlab.evidence import postgres
from churnlab.reports import html as html_report

DB = "db:5432"
EADDR = "EADDRNOTAVAIL: Cannot assign requested address"


def netns(ts: float, tw: int) -> dict:
    return {"ts": ts, "source": "netns", "sockets": tw, "time_wait": tw, "local_ports_in_use": tw,
            "port_use_pct": round(100.0 * tw / 1000, 2), "port_range": [50000, 50999], "port_range_size": 1000,
            "tcp_tw_reuse": 0, "targets": {DB: {"address": "172.18.0.2:5432", "time_wait": tw, "established": 0,
                                               "syn_sent": 0, "local_ports": tw}}}


def pg(ts: float, n: int) -> dict:
    return {"ts": ts, "source": "postgres", "client_backends": n, "by_state": {"active": n},
            "max_connections": 4096}


SUMMARY = {"scenario": "ab", "requests": 1000, "rps": 500.0, "error_rate": 0.6,
           "status_counts": {"200": 400, "499": 600}, "p50_ms": 5.0, "p95_ms": 50.0, "p99_ms": 90.0,
           "max_ms": 100.0, "thresholds_passed": False, "vus": 50, "keepalive": False}

# run.json exactly as loadrun wrote it before schema_version existed.
OLD_RUN = {
    "run_id": "20261124T213938Z-direct-repro-ab-c50",
    "started": "2026-11-24T21:39:38+00:00", "finished": "2026-11-24T21:39:45+00:00",
    "selection": {"variant": "direct", "profile": "repro", "knobs": {}},
    "app_settings": {"WORKER_CLASS": "eventlet", "WORKERS": "6", "CONN_MAX_AGE": "0", "DB_HOST": "db",
                     "DB_PORT": "5432"},
    "load": {"scenario": "ab", "vus": 50, "iterations": 1000, "keepalive": False, "endpoint": "/api/v1/healthz/",
             "sample_interval": 1.0},
    "summary": SUMMARY,
    "app_errors": [{"kind": EADDR, "target": DB, "count": 600}],
    "db": {"peak_client_backends": 30, "max_connections": 4096},
    "evidence": {"samples": 4, "targets": [DB], "peak_time_wait": 1000, "peak_port_use_pct": 100.0,
                 "peak_pgbouncer_server_connections": None, "sampler_errors": ["pgbouncer sampler stopped: x"]},
    "versions": {"postgres": "15.14"},
    "verdict": {"case": "port-exhaustion-postgres", "headline": "old", "evidence": [], "fixes": []},
}


def test_round_trip(tmp_path):
    record = run_record.RunRecord(
        run_id="r1", status=run_record.INTERRUPTED, started="s",
        selection=run_record.Selection(variant="gthread", profile="tuned", via="ansible", hosts={"app": "app1"}),
        app_settings={"WORKERS": "20"}, load=run_record.Load(vus=50, iterations=500), summary=None,
        db=run_record.Db(peak_client_backends=3, max_connections=100, samples=2),
        evidence=run_record.Evidence(samples=5, targets=[DB]), problems=["interrupted (Ctrl-C) during the load"])
    run_record.write(tmp_path, record)
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["schema_version"] == run_record.SCHEMA_VERSION and data["status"] == "interrupted"
    assert run_record.read(tmp_path) == record
    assert not list(tmp_path.glob("*.tmp"))


def test_unknown_status_and_newer_schema_are_refused(tmp_path):
    with pytest.raises(ValueError, match="run status"):
        run_record.RunRecord(run_id="x", status="half-done")
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "x", "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        run_record.read(tmp_path)


def test_run_id_names_when_what_and_load():
    from datetime import datetime, timezone

    when = datetime(2026, 11, 24, 21, 39, 38, tzinfo=timezone.utc)
    assert run_record.run_id(when, "direct", "repro", "ab", 500, False) == "20261124T213938Z-direct-repro-ab-c500"
    assert run_record.run_id(when, "gthread", "tuned", "ramp", 50, True).endswith("-gthread-tuned-ramp-c50-ka")


def test_evidence_is_written_in_time_order(tmp_path):
    sampled = [netns(3.0, 900), pg(1.5, 20), netns(1.0, 100)]
    app_errors = [{"ts": 2.0, "source": "app_errors", "errors": {EADDR: 5}}]
    records = run_record.write_evidence(tmp_path / "evidence.jsonl", sampled, app_errors)
    stamps = [json.loads(line)["ts"] for line in (tmp_path / "evidence.jsonl").read_text().splitlines()]
    assert stamps == [1.0, 1.5, 2.0, 3.0] == [r["ts"] for r in records]


def old_folder(tmp_path):
    run_dir = tmp_path / OLD_RUN["run_id"]
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps(OLD_RUN, indent=2))
    evidence = [netns(1.0, 500), pg(1.2, 30), netns(2.0, 1000), pg(2.2, 28)]
    (run_dir / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evidence))
    return run_dir


def test_an_old_folder_reads_upgraded(tmp_path):
    record = run_record.read(old_folder(tmp_path))
    assert record.schema_version == run_record.SCHEMA_VERSION and record.status == run_record.FINISHED
    assert record.selection.variant == "direct" and record.load.vus == 50
    assert record.problems == ["pgbouncer sampler stopped: x"]
    assert record.db.peak_client_backends == 30


def test_an_old_folder_opens_in_diagnose_and_the_report(tmp_path, monkeypatch):
    run_dir = old_folder(tmp_path)
    verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert "1,000 of 1,000 local ports" in verdict.headline and "600 of 1,000 requests" in verdict.headline
    row = html_report.row_of(run_dir)
    assert (row.variant, row.vus, row.peak_db, row.verdict_case) == ("direct", 50, 30, "port-exhaustion-postgres")
    assert row.peak_time_wait == 1000
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path)
    result = CliRunner().invoke(cli.app, ["diagnose", "--run", run_dir.name])
    assert result.exit_code == 0, result.output
    assert "port-exhaustion-postgres" in result.output


def test_one_postgres_sample_format():
    # What psql -XAtq prints for evidence/pg_sample.sql, once or under \watch.
    line = '{"ts" : 1764000000.123, "source" : "postgres", "client_backends" : 7, ' \
           '"by_state" : {"active" : 2, "idle" : 5}, "max_connections" : 4096}'
    text = f"{line}\n\n{line.replace('000.123', '001.123')}\nERROR:  something\n"
    samples = postgres.parse(text)
    assert [s["ts"] for s in samples] == [1764000000.123, 1764000001.123]
    assert samples[0]["client_backends"] == 7 and samples[0]["by_state"] == {"active": 2, "idle": 5}
    assert postgres.parse_line('{"ts": 1, "source": "netns"}') is None
    assert "pg_stat_activity" in postgres.QUERY and "pg_backend_pid()" in postgres.QUERY
