"""Whatever stops the matrix, its report is written for the runs that
finished and matrix.json says why. Faked at our own boundaries: lab.up/down
(the compose lab) and loadrun.run (one run, writing a real run folder)."""
import json

import pytest

from churnlab.core import catalog, run_record
from churnlab.core.errors import LabError
from churnlab.evidence.k6_summary import LoadSummary
from churnlab.load import run as loadrun
from churnlab.reports import matrix


def finished_run(tmp_path, variant: str, vus: int) -> loadrun.RunResult:
    run_id = f"20261125T000000Z-{variant}-repro-ab-c{vus}"
    run_dir = tmp_path / run_id
    run_dir.mkdir()
    summary = LoadSummary(scenario="ab", requests=vus * 10, rps=100.0, error_rate=0.0,
                          status_counts={"200": vus * 10}, vus=vus, keepalive=False)
    run_record.write(run_dir, run_record.RunRecord(
        run_id=run_id, selection=run_record.Selection(variant=variant, profile="repro"),
        load=run_record.Load(vus=vus, iterations=vus * 10), summary=summary.as_dict(),
        verdict={"case": "healthy", "headline": "healthy", "evidence": [], "fixes": []}))
    run_record.write_evidence(run_dir / "evidence.jsonl", [
        {"ts": 1.0, "source": "postgres", "client_backends": 4, "by_state": {}, "max_connections": 100}])
    return loadrun.RunResult(run_id=run_id, run_dir=run_dir, summary=summary)


@pytest.fixture()
def fake_lab(tmp_path, monkeypatch):
    calls = {"down": 0, "runs": 0, "fresh_ups": 0}
    monkeypatch.setattr(matrix, "RESULTS_DIR", tmp_path)

    def up(selection, fresh=False):
        calls["fresh_ups"] += fresh
        return selection

    monkeypatch.setattr(matrix.lab, "up", up)

    def down():
        calls["down"] += 1
        if calls["down"] == calls.get("down_fails"):
            raise LabError("`docker compose down` failed (exit 1)")

    monkeypatch.setattr(matrix.lab, "down", down)
    return calls


def fake_runs(monkeypatch, tmp_path, calls, fail_on: int | None = None, interrupt_on: int | None = None):
    def run(stack: catalog.Selection, params):
        calls["runs"] += 1
        if calls["runs"] == fail_on:
            raise LabError("k6 failed (exit 107)")
        if calls["runs"] == interrupt_on:
            raise KeyboardInterrupt
        return finished_run(tmp_path, stack.variant, params.vus)

    monkeypatch.setattr(matrix.loadrun, "run", run)


def outputs(result: matrix.MatrixResult) -> dict:
    meta = json.loads((result.matrix_dir / "matrix.json").read_text())
    assert (result.matrix_dir / "report.html").is_file() and result.report == result.matrix_dir / "report.html"
    assert meta["runs"] == [d.name for d in result.run_dirs]
    return meta


def test_a_failing_run_stops_the_matrix_and_the_finished_runs_are_reported(fake_lab, monkeypatch, tmp_path):
    fake_runs(monkeypatch, tmp_path, fake_lab, fail_on=2)
    result = matrix.run(["direct", "gthread", "pgbouncer"], ["repro"], [50], 500)
    meta = outputs(result)
    assert [d.name.split("-")[1] for d in result.run_dirs] == ["direct"]
    assert meta["stopped"] == {"reason": "run-failed", "error": "LabError: k6 failed (exit 107)"}
    summary = (result.matrix_dir / "summary.md").read_text()
    assert "1 of 3 planned runs (stopped: run-failed)" in summary and "-direct-repro-ab-c50" in summary
    assert fake_lab["fresh_ups"] == 2 and fake_lab["down"] == 1  # a fresh stack for each run, down at the end


def test_ctrl_c_is_recorded(fake_lab, monkeypatch, tmp_path):
    fake_runs(monkeypatch, tmp_path, fake_lab, interrupt_on=3)
    result = matrix.run(["direct", "gthread", "pgbouncer"], ["repro"], [50], 500)
    meta = outputs(result)
    assert result.interrupted and meta["interrupted"] is True and len(result.run_dirs) == 2
    assert meta["stopped"] == {"reason": "interrupted", "error": None}


def test_a_failed_lab_down_is_recorded_and_the_report_still_written(fake_lab, monkeypatch, tmp_path):
    fake_lab["down_fails"] = 1  # the one down, at the end, fails
    fake_runs(monkeypatch, tmp_path, fake_lab)
    result = matrix.run(["direct"], ["repro"], [50, 100], 500)
    meta = outputs(result)
    assert len(result.run_dirs) == 2
    assert meta["stopped"]["reason"] == "lab-down-failed" and "compose down" in meta["stopped"]["error"]


def test_every_run_finished(fake_lab, monkeypatch, tmp_path):
    fake_runs(monkeypatch, tmp_path, fake_lab)
    result = matrix.run(["direct"], ["repro"], [50], 500)
    assert outputs(result)["stopped"] is None and result.stopped is None
