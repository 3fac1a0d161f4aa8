"""Bad input to the investigation commands: a clear message, nothing started."""
import subprocess

import pytest

from churnlab import matrix
from churnlab.errors import LabError
from churnlab.paths import ROOT


def test_diagnose_rejects_an_unknown_run():
    proc = subprocess.run(["make", "-s", "diagnose", "RUN=no-such-run"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode != 0
    assert "no run 'no-such-run' under results/" in proc.stderr


@pytest.mark.parametrize("variants,profiles,levels,message", [
    (["direct", "warp"], ["repro"], [10], "unknown variant 'warp'"),
    (["direct"], ["repro", "fast"], [10], "unknown profile 'fast'"),
    (["direct"], ["repro"], [0], "VUS levels must be >= 1"),
    ([], ["repro"], [10], "at least one variant"),
])
def test_matrix_plan_refuses_bad_input(variants, profiles, levels, message):
    with pytest.raises(LabError, match=message):
        matrix.plan(variants, profiles, levels)


def test_matrix_plan_is_the_cross_product():
    plan = matrix.plan(["direct", "gthread"], ["repro", "tuned"], [100, 500])
    assert len(plan) == 8 and ("gthread", "tuned", 500) in plan


def test_matrix_cli_rejects_non_numeric_levels():
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "churnlab"), "matrix", "--vus", "5x"], cwd=ROOT,
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 2 and "VUS_LEVELS must be comma-separated whole numbers" in proc.stderr
