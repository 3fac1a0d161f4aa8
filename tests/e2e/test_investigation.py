"""The investigation toolkit on the real lab: a short matrix renders its
report, and diagnose gives the right verdict live and from a run folder."""
import json
import re
import subprocess

import pytest

from churnlab import diagnosis, live, loadrun, matrix
from churnlab.paths import ROOT

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

    # make diagnose RUN=<id> reads a finished run's folder, the lab being down.
    proc = subprocess.run(["make", "-s", "diagnose", f"RUN={direct['run_id']}"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    shown = proc.stderr  # the CLI's one console writes to stderr
    assert "verdict (port-exhaustion-postgres)" in shown
    assert re.search(r"[\d,]+ of 3,000 requests failed with EADDRNOTAVAIL", shown.replace("\n", " "))
    assert "VARIANT=gthread" in shown


def test_diagnose_names_the_mechanism_on_the_running_lab(fresh_lab):
    stack = fresh_lab("direct", "repro")
    loadrun.run(stack, loadrun.LoadParams(vus=100, iterations=3000))
    verdict = live.diagnose(stack, seconds=3)
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES, verdict.headline
    assert "toward db:5432" in verdict.headline
