"""The alert rules' one definition (churnlab/evidence/alert_rules.py): the renderings the repository ships
are exactly what it renders, every window is a number of scrapes, every rule links to a runbook page that
exists and says the destination and the value in its summary and description."""
import re

import pytest
import yaml

from churnlab.core.paths import ROOT
from churnlab.evidence import alert_rules

SHIPPED = {1: ROOT / "config/prometheus/rules/churnlab.rules.yml",
           15: ROOT / "config/prometheus/production/churnlab.rules.yml"}


@pytest.mark.parametrize("scrape_s", sorted(SHIPPED))
def test_the_shipped_rendering_is_what_the_definition_renders(scrape_s):
    path = SHIPPED[scrape_s]
    assert path.read_text() == alert_rules.render(scrape_s), (
        f"{path.relative_to(ROOT)} is stale: make alert-rules SCRAPE_INTERVAL={scrape_s}s "
        f"RULES_FILE={path.relative_to(ROOT)}")


def rules(scrape_s, base=alert_rules.DEFAULT_RUNBOOK_BASE):
    doc = yaml.safe_load(alert_rules.render(scrape_s, base))
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def seconds(duration: str) -> int:
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    h, m, s = (int(p or 0) for p in parts.groups())
    return 3600 * h + 60 * m + s


@pytest.mark.parametrize("scrape_s", [1, 15, 30, 60, 300])
def test_every_hold_and_window_is_a_number_of_scrapes(scrape_s):
    found = rules(scrape_s)
    port = found["EphemeralPortExhaustionPredicted"]
    assert seconds(port["for"]) == 0
    assert [seconds(w) for w in re.findall(r"\[([0-9hms]+)\]", port["expr"])] == [3 * scrape_s]
    churn = found["PostgresConnectionChurnHigh"]
    assert seconds(churn["for"]) == 5 * scrape_s
    assert [seconds(w) for w in re.findall(r"\[([0-9hms]+)\]", churn["expr"])] == [max(3600, 60 * scrape_s)]
    for name in ("PostgresConnectionsNearMax", "PgBouncerClientsWaiting"):
        assert seconds(found[name]["for"]) == 10 * scrape_s


def test_the_lab_rendering_keeps_the_lab_windows():
    found = rules(1)
    assert "[3s]" in found["EphemeralPortExhaustionPredicted"]["expr"]
    assert [found[n]["for"] for n in alert_rules.ALERTS] == ["0s", "5s", "10s", "10s"]


def test_every_rule_links_to_its_runbook_page_and_says_where_and_how_much():
    base = "https://runbooks.example.org/churn"
    for name, rule in rules(15, base + "/").items():
        notes = rule["annotations"]
        assert notes["runbook_url"] == f"{base}/{name}.md"
        page = ROOT / "docs" / "runbooks" / f"{name}.md"
        assert page.is_file(), f"no runbook page {page.relative_to(ROOT)}"
        assert page.read_text().startswith(f"# {name}\n")
        for field in ("summary", "description"):
            assert "$value" in notes[field] and "$labels.instance" in notes[field], (name, field)
        where = "$labels.name" if "churnlab_destination" in rule["expr"] else "$labels.instance"
        assert where in notes["summary"], name


@pytest.mark.parametrize("base", ["docs/runbooks", "ftp://host/x", "https://host/x?y=1", "https://host/x#y",
                                  "https://host/a b", "https://" + "a" * 300, "https://hóst/x", ""])
def test_a_runbook_base_that_is_not_an_absolute_url_is_refused(base):
    with pytest.raises(alert_rules.RulesError, match="must be an absolute http"):
        alert_rules.render(15, base)


def test_durations_read_as_prometheus_writes_them():
    assert [alert_rules.duration(s) for s in (0, 3, 45, 60, 75, 150, 3600, 5400)] == \
        ["0s", "3s", "45s", "1m", "1m15s", "2m30s", "1h", "1h30m"]
