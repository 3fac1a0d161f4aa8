"""The lab's alert rules, each rendering checked and unit-tested by promtool.

Prometheus seeing the incident coming on the real lab (the port alert firing
before the first failed request under direct + repro, and no alert under
gthread + repro) is asserted on the incident's own runs, in
tests/e2e/test_variants.py (tests/e2e/alerts.py watches the alerts)."""
import subprocess
from pathlib import Path

import pytest

# No load, no time measured: make test runs these last, beside the hosts' loads (tests/e2e/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.no_load]


@pytest.mark.parametrize("rendering,tests_file", [("rules", "churnlab.rules.test.yml"),
                                                  ("production", "churnlab.rules.15s.test.yml")],
                         ids=["1s-lab", "15s-production"])
def test_alert_rules_pass_their_promtool_unit_tests(built, rendering, tests_file):
    """promtool (Debian's, in the observe image) checks the config and each rendering of the rules (the
    lab's 1 s, production's 15 s) and runs its unit tests, series sampled at that interval: the
    predictive port rule fires before the range is full, and series that should not fire do not."""
    prom_dir = Path(__file__).resolve().parents[2] / "config" / "prometheus"
    base = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool",
            "-v", f"{prom_dir}:/etc/churnlab/prometheus:ro", "-w", "/etc/churnlab/prometheus/tests",
            "churnlab/observe:bookworm"]
    checked = subprocess.run([*base, "check", "config", "/etc/churnlab/prometheus/prometheus.yml"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout  # the lab's Prometheus loads the 1 s rendering only
    rules = subprocess.run([*base, "check", "rules", f"../{rendering}/churnlab.rules.yml"],
                           capture_output=True, text=True)
    assert rules.returncode == 0 and "4 rules found" in rules.stdout, rules.stdout + rules.stderr
    tested = subprocess.run([*base, "test", "rules", tests_file], capture_output=True, text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
