"""Load and its verdict: load, diagnose."""
from __future__ import annotations

import typer

from churnlab.cli.options import load_params, opt, or_default, run_id
from churnlab.core import bounds, hooks
from churnlab.core.errors import LabError

app = typer.Typer()


@app.command()
def load(
    scenario: str = opt("SCENARIO", "ab", "ab (the incident's ab -n/-c) or ramp"),
    vus: str = opt("VUS", "500", "concurrent clients, ab -c (1-5000)"),
    iterations: str = opt("ITERATIONS", "", "total requests, ab -n (1-1000000); default 10000, "
                          "or 1000000 time-boxed by the fault's window with FAULT"),
    keepalive: str = opt("KEEPALIVE", "0", "HTTP keep-alive, 1 or 0 (ab uses none)"),
    endpoint: str = opt("ENDPOINT", "/api/v1/healthz/", "path to load"),
    sample_interval: str = opt("SAMPLE_INTERVAL", "1", "seconds between evidence samples (0.1-60)"),
    loadgens: str = opt("LOADGENS", "", "k6 generators sharing the run by execution segments (1-8; default 1)"),
    loadgen_port_range: str = opt("LOADGEN_PORT_RANGE", "", "the generators' own port range, 'low high' "
                                  "(default 1024 65535)"),
    loadgen_cpus: str = opt("LOADGEN_CPUS", "", "CPUs each generator may use (0.05-64; default: no limit)"),
    fault: str = opt("FAULT", "", "a fault mid-load: db-restart, db-pause, pgbouncer-kill or db-network-cut"),
    fault_at: str = opt("FAULT_AT", "", "seconds after the load starts that the fault begins (default 10)"),
    fault_for: str = opt("FAULT_FOR", "", "seconds the fault lasts (default 10)"),
    fault_tail: str = opt("FAULT_TAIL", "", "seconds of load after the fault, to see the recovery (default 15)"),
) -> None:
    """Put k6 load on the running lab, record evidence, summarise and diagnose the outcome."""
    from churnlab.compose import lab
    from churnlab.faults import plan as faults
    from churnlab.load import run as loadrun
    from churnlab.load import show

    chosen = faults.plan(fault, fault_at, fault_for, fault_tail)  # faults: checked before anything starts
    if chosen and not iterations.strip():
        iterations = str(faults.FAULT_ITERATIONS)  # time-boxed by the fault's window instead
    params = load_params(scenario, vus, iterations, keepalive, sample_interval, endpoint, loadgens,
                         loadgen_port_range, loadgen_cpus)
    stack = lab.current_stack()
    if chosen:
        faults.check_fits(chosen, stack.selection.variant, stack.app_settings(), stack.running_services())
    result = loadrun.run(stack, params, fault=chosen)
    if not hooks.load_finished.taken(stack=stack, result=result):  # e.g. an exercise hides its names
        show.run_summary(result)


@app.command()
def diagnose(
    run: str = opt("RUN", "", "a finished run's id (folder under results/); empty = the running lab, sampled now"),
    seconds: str = opt("DIAG_SECONDS", "5", "how long to sample the running lab (1-300)"),
) -> None:
    """A verdict in plain words, with the numbers behind it."""
    from churnlab import diagnosis
    from churnlab.live import terminal

    hooks.diagnose_starting.fire()  # e.g. off during an exercise that does not allow it
    if run.strip():
        from churnlab.core.paths import RESULTS_DIR

        run_dir = RESULTS_DIR / run_id(run)
        if not (run_dir / "run.json").is_file():
            known = sorted(p.parent.name for p in RESULTS_DIR.glob("*/run.json"))[-5:] if RESULTS_DIR.exists() else []
            raise LabError(f"no run {run_dir.name!r} under results/"
                           + (f"; recent runs: {', '.join(known)}" if known else ""))
        verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    else:
        from churnlab.compose import lab
        from churnlab.live import sample

        window = float(bounds.whole("DIAG_SECONDS", or_default(seconds, "5")))
        verdict = sample.diagnose(lab.current_stack(), window)
    terminal.verdict(verdict)
