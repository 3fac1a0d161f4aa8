"""Many runs side by side: matrix, rank."""
from __future__ import annotations

import sys

import typer

from churnlab.cli.options import flag, opt, or_default, run_id
from churnlab.core import bounds, catalog
from churnlab.core.console import console
from churnlab.core.errors import ExitStatus

app = typer.Typer()


@app.command("matrix")
def run_matrix(
    variants: str = opt("VARIANTS", "", "variants, comma- or space-separated; empty = all"),
    profiles: str = opt("PROFILES", "repro,tuned", "kernel profiles, comma- or space-separated"),
    vus: str = opt("VUS_LEVELS", "500", "concurrency levels, comma- or space-separated (each 1-5000)"),
    iterations: str = opt("ITERATIONS", "10000", "requests per run (1-1000000)"),
    keepalive: str = opt("KEEPALIVE", "0", "HTTP keep-alive, 1 or 0"),
) -> None:
    """Run VARIANTS x PROFILES x VUS levels; write results/matrix-<id>/report.html and summary.md."""
    from churnlab.compose.stack import check_pg_major
    from churnlab.reports import matrix

    chosen_variants = bounds.split_list(variants) or catalog.variants()
    chosen_profiles = bounds.split_list(or_default(profiles, "repro,tuned"))
    levels = [bounds.whole("VUS", level, "VUS_LEVELS") for level in bounds.split_list(or_default(vus, "500"))]
    count = bounds.whole("ITERATIONS", or_default(iterations, "10000"))
    matrix.plan(chosen_variants, chosen_profiles, levels)  # every name checked before anything starts
    check_pg_major()  # PG_MAJOR, read by every stack the matrix starts
    result = matrix.run(chosen_variants, chosen_profiles, levels, count, flag("KEEPALIVE", keepalive))
    if result.report:
        console.print(f"report: {result.report}\nsummary: {result.matrix_dir / 'summary.md'}")
    if result.interrupted:
        sys.exit(ExitStatus.INTERRUPTED)
    if result.stopped:
        console.print(f"[red]the matrix stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(ExitStatus.ERROR)


@app.command("rank")
def run_rank(
    variants: str = opt("RANK_VARIANTS", "", "fixes to rank: variants of presets.yml's rank list, or "
                        "variant+profile; empty = the whole list"),
    levels: str = opt("RANK_LEVELS", "500,2000,5000", "concurrency levels (ab -c), each 1-5000"),
    iterations: str = opt("RANK_ITERATIONS", "10000", "requests per run (ab -n), at least the level"),
    repro: str = opt("RANK_REPRO", "1", "1: also run each fix on the repro profile (holds under repro?)"),
    readme: bool = typer.Option(False, "--readme", help="write docs/variants.md's rank block from a rank.json "
                                "(RUN=rank-<id>; empty = the latest) instead of measuring"),
    run: str = opt("RUN", "", "with --readme: the rank id (rank-<id>); empty = the latest"),
) -> None:
    """Measure every fix side by side: results/rank-<id>/rank.json, rank.md, report.html."""
    from churnlab.reports import rank

    if readme:
        data = rank.read(run_id(run) if run.strip() else None)
        console.print(f"rank block written from rank {data['rank_id']}: {rank.write_readme(data)}")
        return
    chosen = rank.candidates(bounds.split_list(variants))
    chosen_levels = [bounds.whole("VUS", v, "RANK_LEVELS")
                     for v in bounds.split_list(or_default(levels, "500,2000,5000"))]
    count = bounds.whole("ITERATIONS", or_default(iterations, "10000"), "RANK_ITERATIONS")
    repeat_repro = flag("RANK_REPRO", or_default(repro, "1"))
    rank.plan(chosen, chosen_levels, count, repeat_repro)  # checked before anything starts
    result = rank.run(chosen, chosen_levels, count, repeat_repro)
    console.print(f"ranking: {' > '.join(result.data['order'])}\n"
                  f"rank: {result.rank_dir / 'rank.md'}\nreport: {result.rank_dir / 'report.html'}")
    if result.stopped:
        console.print(f"[red]the rank stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(ExitStatus.INTERRUPTED if result.stopped["reason"] == "interrupted" else ExitStatus.ERROR)
