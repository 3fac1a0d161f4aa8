"""Many runs side by side: matrix, rank."""
from __future__ import annotations

import sys

import typer

from churnlab.cli.options import Values, flag, or_default, run_id, takes
from churnlab.core import bounds, catalog
from churnlab.core.console import console
from churnlab.core.errors import ExitStatus

app = typer.Typer()


@app.command("matrix")
@takes("VARIANTS", "PROFILES", "VUS_LEVELS", "ITERATIONS", "KEEPALIVE",
       ITERATIONS=("10000", "requests per run (1-1000000)"))
def run_matrix(v: Values) -> None:
    """Run VARIANTS x PROFILES x VUS levels; write results/matrix-<id>/report.html and summary.md."""
    from churnlab.compose.stack import check_pg_major
    from churnlab.reports import matrix

    chosen_variants = bounds.split_list(v["VARIANTS"]) or catalog.variants()
    chosen_profiles = bounds.split_list(or_default(v["PROFILES"], "repro,tuned"))
    levels = [bounds.whole("VUS", level, "VUS_LEVELS")
              for level in bounds.split_list(or_default(v["VUS_LEVELS"], "500"))]
    count = bounds.whole("ITERATIONS", or_default(v["ITERATIONS"], "10000"))
    matrix.plan(chosen_variants, chosen_profiles, levels)  # every name checked before anything starts
    check_pg_major()  # PG_MAJOR, read by every stack the matrix starts
    result = matrix.run(chosen_variants, chosen_profiles, levels, count, flag("KEEPALIVE", v["KEEPALIVE"]))
    if result.report:
        console.print(f"report: {result.report}\nsummary: {result.matrix_dir / 'summary.md'}")
    if result.interrupted:
        sys.exit(ExitStatus.INTERRUPTED)
    if result.stopped:
        console.print(f"[red]the matrix stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(ExitStatus.ERROR)


@app.command("rank")
@takes("RANK_VARIANTS", "RANK_LEVELS", "RANK_ITERATIONS", "RANK_REPRO", "RUN",
       RUN=("", "with --readme: the rank id (rank-<id>); empty = the latest"))
def run_rank(v: Values, readme: bool = typer.Option(False, "--readme", help="write docs/variants.md's rank block "
                                                    "from a rank.json (RUN=rank-<id>; empty = the latest) "
                                                    "instead of measuring")) -> None:
    """Measure every fix side by side: results/rank-<id>/rank.json, rank.md, report.html."""
    from churnlab.reports import rank

    if readme:
        data = rank.read(run_id(v["RUN"]) if v["RUN"].strip() else None)
        console.print(f"rank block written from rank {data['rank_id']}: {rank.write_readme(data)}")
        return
    chosen = rank.candidates(bounds.split_list(v["RANK_VARIANTS"]))
    chosen_levels = [bounds.whole("VUS", level, "RANK_LEVELS")
                     for level in bounds.split_list(or_default(v["RANK_LEVELS"], "500,2000,5000"))]
    count = bounds.whole("ITERATIONS", or_default(v["RANK_ITERATIONS"], "10000"), "RANK_ITERATIONS")
    repeat_repro = flag("RANK_REPRO", or_default(v["RANK_REPRO"], "1"))
    rank.plan(chosen, chosen_levels, count, repeat_repro)  # checked before anything starts
    result = rank.run(chosen, chosen_levels, count, repeat_repro)
    console.print(f"ranking: {' > '.join(result.data['order'])}\n"
                  f"rank: {result.rank_dir / 'rank.md'}\nreport: {result.rank_dir / 'report.html'}")
    if result.stopped:
        console.print(f"[red]the rank stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(ExitStatus.INTERRUPTED if result.stopped["reason"] == "interrupted" else ExitStatus.ERROR)
