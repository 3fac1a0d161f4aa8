"""Load and its verdict: load, diagnose."""
from __future__ import annotations

import typer

from churnlab.cli.options import FAULT_VARIABLES, Values, fault_and_load, or_default, run_id, takes
from churnlab.core import bounds, hooks
from churnlab.core.errors import LabError

app = typer.Typer()


@app.command()
@takes("SCENARIO", "VUS", "ITERATIONS", "KEEPALIVE", "ENDPOINT", "SAMPLE_INTERVAL", "LOADGENS", "LOADGEN_PORT_RANGE",
       "LOADGEN_CPUS", *FAULT_VARIABLES)
def load(v: Values) -> None:
    """Put k6 load on the running lab, record evidence, summarise and diagnose the outcome."""
    from churnlab import faults
    from churnlab.compose import lab
    from churnlab.load import run as loadrun
    from churnlab.load import show

    chosen, params = fault_and_load(v)  # both checked before anything starts
    faults.require_netem(chosen)  # the db container's packets leave through this machine's kernel
    stack = lab.current_stack()
    if chosen:
        faults.check_fits(chosen, stack.selection.variant, stack.app_settings(), stack.running_services())
    result = loadrun.run(stack, params, fault=chosen)
    if not hooks.load_finished.taken(stack=stack, result=result):  # e.g. an exercise hides its names
        show.run_summary(result)


@app.command()
@takes("RUN", "DIAG_SECONDS", "SNAPSHOT")
def diagnose(v: Values) -> None:
    """A verdict in plain words, with the numbers behind it."""
    from churnlab import diagnosis
    from churnlab.live import terminal

    hooks.diagnose_starting.fire()  # e.g. off during an exercise that does not allow it
    if v["RUN"].strip() and v["SNAPSHOT"].strip():
        raise LabError("give RUN or SNAPSHOT, not both: the verdict is of a run or of a host's snapshot")
    if v["SNAPSHOT"].strip():
        from churnlab.investigate import snapshot, verdict

        print(verdict.report(snapshot.read(v["SNAPSHOT"].strip())))  # the probe's own words, offline
        return
    if v["RUN"].strip():
        from churnlab.core.paths import RESULTS_DIR

        run_dir = RESULTS_DIR / run_id(v["RUN"])
        if not (run_dir / "run.json").is_file():
            known = sorted(p.parent.name for p in RESULTS_DIR.glob("*/run.json"))[-5:] if RESULTS_DIR.exists() else []
            raise LabError(f"no run {run_dir.name!r} under results/"
                           + (f"; recent runs: {', '.join(known)}" if known else ""))
        verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    else:
        from churnlab.compose import lab
        from churnlab.live import sample

        window = float(bounds.whole("DIAG_SECONDS", or_default(v["DIAG_SECONDS"], "5")))
        verdict = sample.diagnose(lab.current_stack(), window)
    terminal.verdict(verdict)
