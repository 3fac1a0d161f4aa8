"""The investigation toolkit on the real lab: a short matrix renders its
report, and diagnose gives the right verdict from a run folder (live, on the
running lab: test_variants.py's direct + repro run)."""
import json
import re
import subprocess

import pytest

from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.core.paths import ROOT
from churnlab.reports import matrix

pytestmark = pytest.mark.e2e


def test_short_matrix_renders_a_report_that_matches_its_runs(built):
    result = matrix.run(["direct", "gthread"], ["repro"], [100], iterations=3000)
    assert not result.interrupted and len(result.run_dirs) == 2
    page = result.report.read_text()
    assert page.count('class="plotly-graph-div"') == 2  # one plot per run
    assert "<script src=" not in page  # plotly.js is inlined: the file works offline
    table = (result.matrix_dir / "summary.md").read_text()
    for run_dir in result.run_dirs:
        record = json.loads((run_dir / "run.json").read_text())
        row = next(line for line in table.splitlines() if line.startswith(f"| {record['run_id']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1:6] == [record["selection"]["variant"], "repro", "off", "100", f"{record['summary']['rps']:,.0f}"]
        assert cells[6] == f"{100 * record['summary']['error_rate']:.1f}"
        assert cells[10] == f"{record['db']['peak_client_backends']:,}"
        assert cells[11] == record["verdict"]["case"]
    direct, gthread = (json.loads((d / "run.json").read_text()) for d in result.run_dirs)
    assert direct["verdict"]["case"] == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert gthread["verdict"]["case"] == diagnosis.HEALTHY
    # The port budget toward the DB: direct asks for more ports within one
    # TIME_WAIT than the 1,000-port range holds, and it was predicted; gthread's
    # bounded pool leaves headroom.
    lost = budget_toward(direct, "db:5432")
    assert lost["headroom"] < 0 and lost["range_size"] == 1000, lost
    assert lost["peak_rate"] > lost["sustainable_rate"] and lost["failed_connections"] > 0, lost
    assert lost["predicted_exhaustion_at"] is not None and lost["first_error_at"] is not None, lost
    assert lost["crossed_at"] <= lost["first_error_at"], lost
    kept = budget_toward(gthread, "db:5432")
    assert kept["headroom"] > 0 and kept["failed_connections"] == 0, kept
    assert kept["ports_needed"] <= 800 and kept["predicted_exhaustion_at"] is None, kept
    assert any(line.startswith("port budget toward db:5432") for line in gthread["verdict"]["evidence"])
    # k6's own dashboard: one self-contained page per run, linked from the report.
    for run_dir in result.run_dirs:
        assert_self_contained(run_dir / run_record.DASHBOARD)
        assert f'href="../{run_dir.name}/{run_record.DASHBOARD}"' in page

    # make diagnose RUN=<id> reads a finished run's folder, the lab being down.
    proc = subprocess.run(["make", "-s", "diagnose", f"RUN={direct['run_id']}"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    shown = proc.stderr  # the CLI's one console writes to stderr
    assert "verdict (port-exhaustion-postgres)" in shown
    assert re.search(r"[\d,]+ of 3,000 requests failed with EADDRNOTAVAIL", shown.replace("\n", " "))
    assert "VARIANT=gthread" in shown
    assert re.search(r"port budget toward db:5432 .*: headroom -[\d,]+", shown), shown
    assert "exhaustion predicted at" in shown


def budget_toward(record: dict, target: str) -> dict:
    return next(b for b in record["evidence"]["port_budget"] if b["target"] == target)


def assert_self_contained(path):
    """An HTML file that works offline: no script or style fetched from elsewhere."""
    text = path.read_text()
    assert len(text) > 10_000 and "<script" in text, path
    external = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^>]*>", text, re.I)
    assert external == [], external

