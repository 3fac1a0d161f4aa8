"""alert-rules: the alert rules rendered for a scrape interval and a runbook base URL
(churnlab/evidence/alert_rules.py, the one definition)."""
from __future__ import annotations

from pathlib import Path

import typer

from churnlab.cli.options import Values, or_default, takes
from churnlab.core import bounds
from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.files import write_atomic
from churnlab.core.paths import ROOT

app = typer.Typer()


@app.command("alert-rules")
@takes("SCRAPE_INTERVAL", "RUNBOOK_BASE", "RULES_FILE")
def alert_rules(v: Values) -> None:
    """Render the alert rules for a scrape interval (every for: and window a number of scrapes) into a file."""
    from churnlab.evidence import alert_rules as rules

    scrape_s = bounds.seconds("SCRAPE_INTERVAL", or_default(v["SCRAPE_INTERVAL"], str(rules.PRODUCTION_SCRAPE_S)))
    try:
        text = rules.render(scrape_s, or_default(v["RUNBOOK_BASE"], rules.DEFAULT_RUNBOOK_BASE))
    except rules.RulesError as exc:
        raise LabError(str(exc)) from None
    given = Path(or_default(v["RULES_FILE"], rules.DEFAULT_RULES_FILE.format(scrape_s=scrape_s)))
    target = given if given.is_absolute() else ROOT / given
    if target.is_dir() or target.name.startswith("."):
        raise LabError(f"RULES_FILE={bounds.shown(str(given))} must name a file to write, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text, 0o644)
    t = rules.Timing(scrape_s)
    console.print(f"{target}: scrape {rules.duration(scrape_s)}, port prediction over "
                  f"{rules.duration(t.deriv_window_s)} (no for:), churn for {rules.duration(t.churn_for_s)} "
                  f"(baseline {rules.duration(t.baseline_s)}), Postgres/PgBouncer for {rules.duration(t.pool_for_s)}; "
                  f"evaluate the rules every {rules.duration(scrape_s)}", highlight=False, soft_wrap=True)
