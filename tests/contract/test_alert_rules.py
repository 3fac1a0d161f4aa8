"""make alert-rules: the one rule definition rendered for a scrape interval and a runbook base, written
where RULES_FILE says, and the renderings the repository ships equal to what it renders now. promtool
runs both renderings' unit tests in tests/e2e/test_observe.py (Debian's promtool is in the observe image,
and this suite starts no container)."""
import subprocess

import yaml

from churnlab.core.paths import ROOT
from churnlab.evidence import alert_rules
from tests.helpers import clean_env


def make_rules(tmp_path, *variables):
    out = tmp_path / "rules.yml"
    proc = subprocess.run(["make", "-s", "-o", "bootstrap", "alert-rules", f"RULES_FILE={out}", *variables],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return yaml.safe_load(out.read_text()), proc.stdout + proc.stderr


def rules(doc):
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def test_a_60s_rendering_scales_every_window_and_links_to_the_given_base(tmp_path):
    doc, said = make_rules(tmp_path, "SCRAPE_INTERVAL=60s", "RUNBOOK_BASE=https://wiki.example.com/ops/runbooks/")
    found = rules(doc)
    assert set(found) == set(alert_rules.ALERTS)
    assert "[3m]" in found["EphemeralPortExhaustionPredicted"]["expr"]  # three scrapes
    assert found["EphemeralPortExhaustionPredicted"]["for"] == "0s"
    churn = found["PostgresConnectionChurnHigh"]
    assert churn["for"] == "5m" and "[1h]" in churn["expr"]
    assert found["PostgresConnectionsNearMax"]["for"] == "10m" and found["PgBouncerClientsWaiting"]["for"] == "10m"
    for name, rule in found.items():
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/ops/runbooks/{name}.md"
    assert "scrape 1m" in said and "evaluate the rules every 1m" in said


def test_the_default_is_15s_toward_the_projects_runbooks(tmp_path):
    doc, _ = make_rules(tmp_path)
    assert doc == yaml.safe_load((ROOT / "config/prometheus/production/churnlab.rules.yml").read_text())
    url = rules(doc)["PgBouncerClientsWaiting"]["annotations"]["runbook_url"]
    assert url == f"{alert_rules.DEFAULT_RUNBOOK_BASE}/PgBouncerClientsWaiting.md"
