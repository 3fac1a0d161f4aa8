"""Running the rank: every candidate at every level through the one load path, then
results/rank-<id>/ (rank.json, rank.md, report.html)."""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from churnlab.core import catalog
from churnlab.reports import html as html_report
from churnlab.reports import matrix
from churnlab.reports.rank.constants import HEALTHZ, PING, REPRO, RULE, TARGET_RATIO
from churnlab.reports.rank.output import chart, html_table, markdown, note
from churnlab.reports.rank.plan import label, plan, repro_applies, shown_by
from churnlab.reports.rank.ranking import Candidate, failed_figures, figures, pair, ranked


@dataclass
class RankResult:
    rank_dir: Path
    data: dict
    stopped: dict | None


def machine() -> dict:
    return {"cores": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
            "python": platform.python_version(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def run(chosen: list[catalog.Selection], levels: list[int], iterations: int, repro: bool = True) -> RankResult:
    steps = plan(chosen, levels, iterations, repro)
    rank_id, rank_dir = matrix.new_dir("rank")
    before, started = machine(), time.monotonic()
    cands = {label(s): Candidate(label(s), s.variant, s.profile, dict(s.knobs), catalog.about("variant", s.variant),
                                 planned_levels=len(levels), shown_by=shown_by(s),
                                 repro={"applies": repro_applies(s) and repro, "holds": None})
             for s in chosen}
    found_versions: dict = {}

    def on_result(step: matrix.Step, result) -> None:
        if not found_versions and result.record is not None:
            found_versions.update(result.record.versions)
        cand = cands.get(label(step.selection))
        if cand is not None and not cand.app_versions and result.record is not None:
            cand.app_versions = dict(result.record.versions.get("app") or {})
        place(step, figures(result.run_dir, result.cpu_s, result.cpu_wall_s))

    def on_failure(step: matrix.Step, error: str) -> None:
        place(step, failed_figures(error))

    def place(step: matrix.Step, fig: dict) -> None:
        sel = step.selection
        if sel.profile == REPRO and step.label.endswith("repro check"):
            c = next(c for c in cands.values() if c.variant == sel.variant and c.knobs == sel.knobs
                     and c.repro.get("applies"))
            c.repro.update(holds=fig["verdict"] == "healthy" and fig["error_rate"] == 0, verdict=fig["verdict"],
                           run=fig["run"], error_rate=fig["error_rate"], app_errors=fig["app_errors"])
            return
        c = cands[label(sel)]
        endpoint = "ping" if step.params.endpoint == PING else "healthz"
        level = next((lv for lv in c.levels if lv["vus"] == step.params.vus), None)
        if level is None:
            level = {"vus": step.params.vus, "ping": None, "healthz": None, "ratio": None}
            c.levels.append(level)
        level[endpoint] = fig
        level["ratio"] = pair(level["healthz"], level["ping"])

    run_dirs, stopped = matrix.run_steps(steps, on_result, on_failure=on_failure)
    data = document(rank_id, list(cands.values()), levels, iterations, before, machine(),
                    round(time.monotonic() - started, 1), found_versions, stopped)
    write(rank_dir, data, run_dirs)
    return RankResult(rank_dir, data, stopped)


def document(rank_id: str, cands: list[Candidate], levels: list[int], iterations: int, before: dict, after: dict,
             seconds: float, found_versions: dict, stopped: dict | None) -> dict:
    order = ranked(cands)
    return {
        "rank_id": rank_id, "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {**before, "loadavg_before": before.pop("loadavg"), "loadavg_after": after["loadavg"]},
        "duration_s": seconds,
        "load": {"scenario": "ab", "levels": levels, "iterations": iterations, "keepalive": False,
                 "endpoints": [PING, HEALTHZ], "pairing": "ping then healthz back to back on the same fresh stack"},
        "rule": RULE, "target_ratio": TARGET_RATIO,
        "order": [c.name for c in order], "recommended": order[0].name if order else None,
        "candidates": [{**asdict(c), "summary": c.summary()} for c in order],
        "versions": found_versions, "stopped": stopped}


def write(rank_dir: Path, data: dict, run_dirs: list[Path]) -> None:
    (rank_dir / "rank.json").write_text(json.dumps(data, indent=2) + "\n")
    (rank_dir / "rank.md").write_text(markdown(data))
    section = "<section><h2>Which fix to pick</h2>" + html_table(data) + "</section>"
    html_report.render(rank_dir, run_dirs, f"churnlab rank {data['rank_id']}", note(data), lead_html=section,
                       lead_figure=chart(data), summary=False)
