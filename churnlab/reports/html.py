"""The matrix report: one row per run, and per-run time series, as a single
offline HTML file (plotly, with plotly.js inlined once) plus a Markdown table."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from churnlab.core import run_record
from churnlab.evidence import port_budget, timeline

COLUMNS = ("run", "variant", "profile", "keep-alive", "VUs", "rps", "error %", "p95 ms", "p99 ms",
           "peak TIME_WAIT to DB", "peak DB conns", "verdict", "port headroom")
SERIES = ("requests/s", "errors/s", "TIME_WAIT toward DB", "local ports in use (%)", "DB connections",
          "p95 latency (ms)")


@dataclass
class Row:
    run_id: str
    variant: str
    profile: str
    keepalive: bool
    vus: int
    rps: float
    error_pct: float
    p95_ms: float | None
    p99_ms: float | None
    peak_time_wait: int | None
    peak_db: int | None
    verdict_case: str
    verdict: str
    budget: list[str] = field(default_factory=list)  # port_budget.lines() of the run
    headroom: str = "-"                               # "-2,000 toward db:5432"
    dashboard: str | None = None                      # k6's dashboard, relative to the matrix folder

    def cells(self) -> list[str]:
        def num(v, fmt="{:,.0f}"):
            return "-" if v is None else fmt.format(v)
        return [self.run_id, self.variant, self.profile, "on" if self.keepalive else "off", str(self.vus),
                num(self.rps), num(self.error_pct, "{:.1f}"), num(self.p95_ms), num(self.p99_ms),
                num(self.peak_time_wait), num(self.peak_db), self.verdict_case, self.headroom]


def row_of(run_dir: Path) -> Row:
    r = run_record.read(run_dir)
    s = r.summary or {}
    tl = timeline.load(run_dir)
    verdict = r.verdict or {}
    budgets = port_budget.from_record(r.evidence.port_budget)
    main = port_budget.main_budget(budgets)
    dashboard = run_dir / run_record.DASHBOARD
    return Row(run_id=r.run_id, variant=r.selection.variant or "?", profile=r.selection.profile or "?",
               keepalive=bool(r.load.keepalive), vus=int(r.load.vus), rps=float(s.get("rps", 0.0)),
               error_pct=100.0 * float(s.get("error_rate", 0.0)), p95_ms=s.get("p95_ms"), p99_ms=s.get("p99_ms"),
               peak_time_wait=max(tl.time_wait.values(), default=None), peak_db=r.db.peak_client_backends,
               verdict_case=verdict.get("case", r.status), verdict=verdict.get("headline", ""),
               budget=port_budget.lines(budgets), headroom=f"{main.headroom:,} toward {main.target}" if main else "-",
               dashboard=f"../{run_dir.name}/{run_record.DASHBOARD}" if dashboard.is_file() else None)


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |" for row in rows]
    lines.append("")
    for row in rows:
        if row.verdict or row.budget or row.dashboard:
            lines.append(f"- **{row.run_id}**: {row.verdict}")
        lines += [f"  - {line}" for line in row.budget]
        if row.dashboard:
            lines.append(f"  - [k6 dashboard]({row.dashboard})")
    return "\n".join(lines) + "\n"


def figure(run_dir: Path, title: str) -> go.Figure:
    tl = timeline.load(run_dir)
    fig = make_subplots(rows=len(SERIES), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=[s if s != "TIME_WAIT toward DB" else f"TIME_WAIT toward {tl.target}"
                                        for s in SERIES])
    data = (tl.rps, tl.errors, tl.time_wait, tl.port_use_pct, tl.db_connections, tl.p95_ms)
    for i, (name, series) in enumerate(zip(SERIES, data, strict=True), start=1):
        xs = sorted(series)
        fig.add_trace(go.Scatter(x=xs, y=[series[x] for x in xs], name=name, mode="lines",
                                 line_shape="hv" if i <= 2 else "linear"), row=i, col=1)
    if tl.fault:  # FAULT=...: the fault's window, shaded on every series
        fig.add_vrect(x0=tl.fault[0], x1=tl.fault[1], row="all", col=1, fillcolor="firebrick", opacity=0.15,
                      line_width=0)
        label = f"fault: {tl.fault_kind} {tl.fault_setting}".strip()
        fig.add_annotation(x=tl.fault[0], y=1.0, xref="x", yref="paper", text=label,
                           showarrow=False, xanchor="left", yanchor="bottom", font=dict(color="firebrick"))
    fig.update_layout(title=title, height=170 * len(SERIES) + 80, showlegend=False, margin=dict(l=60, r=20, t=70))
    fig.update_xaxes(title_text="seconds since the load began", row=len(SERIES), col=1)
    return fig


def render(matrix_dir: Path, run_dirs: list[Path], title: str, note: str = "", lead_html: str = "",
           lead_figure: go.Figure | None = None, summary: bool = True) -> Path:
    """report.html (and summary.md unless summary=False): `lead_html` and `lead_figure`
    (a section of the caller's own, e.g. the rank's) come first, then the runs' table and
    time series. plotly.js is inlined once, with the first figure on the page."""
    rows = [row_of(d) for d in run_dirs]
    if summary:
        (matrix_dir / "summary.md").write_text(f"# {title}\n\n{note}\n\n" + markdown(rows))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row.cells()) + "</tr>" for row in rows)
    parts = []
    lead = lead_html
    if lead_figure is not None:
        lead += lead_figure.to_html(full_html=False, include_plotlyjs=True)
    first = 0 if lead_figure is None else 1
    for i, (row, run_dir) in enumerate(zip(rows, run_dirs, strict=True), start=first):
        fig = figure(run_dir, f"{row.variant} + {row.profile}, {row.vus} VUs, keep-alive "
                              f"{'on' if row.keepalive else 'off'}: {row.verdict_case}")
        budget = "".join(f"<li>{html.escape(line)}</li>" for line in row.budget)
        link = (f'<p><a href="{html.escape(row.dashboard)}">k6 dashboard</a> (k6\'s own report of this run, '
                'self-contained)</p>' if row.dashboard else "")
        parts.append(f'<section><h2>{html.escape(row.run_id)}</h2><p>{html.escape(row.verdict)}</p>'
                     + (f"<ul>{budget}</ul>" if budget else "") + link
                     + fig.to_html(full_html=False, include_plotlyjs=(i == 0)) + "</section>")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
td:first-child, td:nth-child(2), td:nth-child(3), td:last-child {{ text-align: left; }}
section {{ margin-top: 2em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{lead}
<p>{html.escape(note)} Made {made}. Time series share one axis: seconds since the load began.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{"".join(parts)}
</body></html>
"""
    out = matrix_dir / "report.html"
    out.write_text(page)
    return out
