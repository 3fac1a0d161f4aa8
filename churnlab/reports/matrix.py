"""Run variants x profiles x concurrency levels and render one report.

Each run starts from a fresh stack (no TIME_WAIT carried over). Whatever
stops it (Ctrl-C, a failed run, a failed `lab-down`), matrix.json,
summary.md and report.html are written for the runs that finished, and
matrix.json says why it stopped: `stopped: {reason, error}`."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from churnlab.compose import lab
from churnlab.core import catalog
from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.paths import RESULTS_DIR
from churnlab.load import run as loadrun
from churnlab.reports import html as html_report

INTERRUPTED = "interrupted"
RUN_FAILED = "run-failed"
LAB_DOWN_FAILED = "lab-down-failed"


@dataclass
class MatrixResult:
    matrix_dir: Path
    run_dirs: list[Path]
    planned: int
    stopped: dict | None  # None: every planned run finished; else {reason, error}
    report: Path | None

    @property
    def interrupted(self) -> bool:
        return bool(self.stopped and self.stopped["reason"] == INTERRUPTED)


def plan(variants: list[str], profiles: list[str], vus_levels: list[int]) -> list[tuple[str, str, int]]:
    for v in variants:
        catalog.Selection.of(v, profiles[0] if profiles else "repro")
    for p in profiles:
        catalog.Selection.of(variants[0] if variants else "direct", p)
    if not variants or not profiles or not vus_levels:
        raise LabError("the matrix needs at least one variant, one profile and one VUS level")
    if any(v < 1 for v in vus_levels):
        raise LabError("VUS levels must be >= 1")
    return list(itertools.product(variants, profiles, vus_levels))


def _eta(started: float, done: int, total: int) -> str:
    if not done:
        return "ETA unknown until the first run ends"
    left = (time.monotonic() - started) / done * (total - done)
    return f"ETA {int(left // 60)}m{int(left % 60):02d}s"


@dataclass
class Step:
    """One load run of a series: on `selection`, from a fresh stack unless `fresh` is False
    (then on the stack the previous step left, which must have the same selection)."""
    selection: catalog.Selection
    params: loadrun.LoadParams
    label: str = ""
    fresh: bool = True


def run_steps(steps: list[Step], on_result=None, on_failure=None) -> tuple[list[Path], dict | None]:
    """Run the steps through the one load path (lab.up, loadrun.run), then bring the lab down.

    Whatever stops the series (Ctrl-C, a failed run, a failed `lab-down`), the
    run folders finished so far are returned with `stopped: {reason, error}`.
    `on_result(step, result)` is called after each finished run (result.cpu_s: the CPU
    each service used during the load).
    With `on_failure(step, error)`, a failed run (LabError: k6 or the lab) is reported to it
    and the series goes on from a fresh stack; without it, the series stops there."""
    run_dirs: list[Path] = []
    stopped: dict | None = None
    started = time.monotonic()
    stack = None
    try:
        for i, step in enumerate(steps):
            sel = step.selection
            console.rule(f"run {i + 1}/{len(steps)}: {sel.variant} + {sel.profile}, {step.params.vus} VUs"
                         f"{step.label} ({_eta(started, i, len(steps))})")
            if step.fresh or stack is None:
                stack = lab.up(sel, fresh=True)
            try:
                result = loadrun.run(stack, step.params)
            except LabError as exc:
                if on_failure is None:
                    raise
                console.print(f"[red]run failed, going on:[/] {str(exc).splitlines()[0]}")
                on_failure(step, f"{type(exc).__name__}: {exc}")
                stack = None
                continue
            run_dirs.append(result.run_dir)
            if on_result:
                on_result(step, result)
            console.print(f"  {result.summary.requests:,} requests, {result.summary.error_rate:.1%} failed: "
                          f"{result.verdict.case if result.verdict else '-'}")
    except KeyboardInterrupt:
        stopped = {"reason": INTERRUPTED, "error": None}
        console.print("[yellow]interrupted: bringing the lab down and rendering the runs finished so far[/]")
    except Exception as exc:  # noqa: BLE001 - recorded in the series' JSON by the caller
        stopped = {"reason": RUN_FAILED, "error": f"{type(exc).__name__}: {exc}"}
        console.print(f"[red]a run failed:[/] {exc}\nrendering the runs finished so far")
    try:
        lab.down()
    except Exception as exc:  # noqa: BLE001
        stopped = stopped or {"reason": LAB_DOWN_FAILED, "error": f"{type(exc).__name__}: {exc}"}
    return run_dirs, stopped


def run(variants: list[str], profiles: list[str], vus_levels: list[int], iterations: int,
        keepalive: bool = False) -> MatrixResult:
    combos = plan(variants, profiles, vus_levels)
    matrix_id, matrix_dir = new_dir()
    steps = [Step(catalog.Selection.of(variant, profile),
                  loadrun.LoadParams(vus=vus, iterations=max(iterations, vus), keepalive=keepalive))
             for variant, profile, vus in combos]
    run_dirs, stopped = run_steps(steps)
    out = write_outputs(matrix_dir, matrix_id, combos, iterations, keepalive, run_dirs, stopped)
    return MatrixResult(matrix_dir, run_dirs, len(combos), stopped, out)


def new_dir(kind: str = "matrix") -> tuple[str, Path]:
    """A series' id (its UTC start) and its new folder, results/<kind>-<id>/ (make matrix, make rank)."""
    series_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = RESULTS_DIR / f"{kind}-{series_id}"
    folder.mkdir(parents=True)
    return series_id, folder


def write_outputs(matrix_dir: Path, matrix_id: str, combos: list, iterations: int, keepalive: bool,
                  run_dirs: list[Path], stopped: dict | None) -> Path | None:
    """matrix.json, and summary.md + report.html for the runs that finished."""
    (matrix_dir / "matrix.json").write_text(json.dumps({
        "matrix_id": matrix_id, "planned": [list(c) for c in combos], "iterations": iterations,
        "keepalive": keepalive, "runs": [d.name for d in run_dirs],
        "interrupted": bool(stopped and stopped["reason"] == INTERRUPTED), "stopped": stopped}, indent=2) + "\n")
    if not run_dirs:
        return None
    why = f" (stopped: {stopped['reason']})" if stopped else ""
    note = (f"{len(run_dirs)} of {len(combos)} planned runs{why}; k6 ab scenario, {iterations:,} requests each, "
            f"keep-alive {'on' if keepalive else 'off'}.")
    return html_report.render(matrix_dir, run_dirs, f"churnlab matrix {matrix_id}", note)
