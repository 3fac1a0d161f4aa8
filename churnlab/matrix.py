"""Run variants x profiles x concurrency levels and render one report.

Each run starts from a fresh stack (no TIME_WAIT carried over). Ctrl-C stops
cleanly: the lab comes down and the report renders from the runs finished."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from churnlab import catalog, html_report, lab, loadrun
from churnlab.errors import LabError
from churnlab.paths import RESULTS_DIR
from churnlab.terminal import console


@dataclass
class MatrixResult:
    matrix_dir: Path
    run_dirs: list[Path]
    planned: int
    interrupted: bool
    report: Path | None


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


def run(variants: list[str], profiles: list[str], vus_levels: list[int], iterations: int,
        keepalive: bool = False) -> MatrixResult:
    combos = plan(variants, profiles, vus_levels)
    matrix_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    matrix_dir = RESULTS_DIR / f"matrix-{matrix_id}"
    matrix_dir.mkdir(parents=True)
    run_dirs: list[Path] = []
    interrupted = False
    started = time.monotonic()
    try:
        for i, (variant, profile, vus) in enumerate(combos):
            console.rule(f"run {i + 1}/{len(combos)}: {variant} + {profile}, {vus} VUs "
                         f"({_eta(started, i, len(combos))})")
            lab.down()
            stack = lab.up(catalog.Selection.of(variant, profile))
            params = loadrun.LoadParams(vus=vus, iterations=max(iterations, vus), keepalive=keepalive)
            result = loadrun.run(stack, params)
            run_dirs.append(result.run_dir)
            console.print(f"  {result.summary.requests:,} requests, {result.summary.error_rate:.1%} failed: "
                          f"{result.verdict.case if result.verdict else '-'}")
    except KeyboardInterrupt:
        interrupted = True
        console.print("[yellow]interrupted: bringing the lab down and rendering the runs finished so far[/]")
    finally:
        lab.down()
        (matrix_dir / "matrix.json").write_text(json.dumps({
            "matrix_id": matrix_id, "planned": [list(c) for c in combos], "iterations": iterations,
            "keepalive": keepalive, "runs": [d.name for d in run_dirs], "interrupted": interrupted}, indent=2))
    out = None
    if run_dirs:
        note = (f"{len(run_dirs)} of {len(combos)} planned runs"
                + (" (interrupted)" if interrupted else "") + f"; k6 ab scenario, {iterations:,} requests each, "
                f"keep-alive {'on' if keepalive else 'off'}.")
        out = html_report.render(matrix_dir, run_dirs, f"churnlab matrix {matrix_id}", note)
    return MatrixResult(matrix_dir, run_dirs, len(combos), interrupted, out)
