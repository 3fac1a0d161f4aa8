"""churnlab: the lab's command line. The Makefile is a front door to these commands."""
from __future__ import annotations

import sys

import typer

from churnlab import catalog, diagnosis, images, lab, loadrun, matrix, terminal
from churnlab.compose_stack import require_docker
from churnlab.errors import LabError
from churnlab.terminal import console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce PostgreSQL connection churn and ephemeral-port exhaustion.")


def _knobs(worker_class, workers, threads, conn_max_age) -> dict[str, str]:
    return {"WORKER_CLASS": worker_class, "WORKERS": workers, "THREADS": threads, "CONN_MAX_AGE": conn_max_age}


@app.command("variants")
def list_variants() -> None:
    """List the variants and kernel profiles."""
    print("variants:", " ".join(catalog.variants()))
    print("profiles:", " ".join(catalog.profiles()))


@app.command("images")
def build_images() -> None:
    """Build every image locally (base from debootstrap unless BASE_IMAGE is set)."""
    require_docker()
    for ref in images.build_all():
        print(ref)


@app.command()
def up(
    variant: str = typer.Option("direct", envvar="VARIANT", help="direct, persistent, gthread, pgbouncer, ..."),
    profile: str = typer.Option("repro", envvar="PROFILE", help="default, repro or tuned"),
    worker_class: str = typer.Option("", help="override the variant's gunicorn worker class"),
    workers: str = typer.Option("", help="override the number of gunicorn workers"),
    threads: str = typer.Option("", help="override threads per worker (gthread)"),
    conn_max_age: str = typer.Option("", help="override Django CONN_MAX_AGE"),
    app_port: int = typer.Option(8000, envvar="APP_PORT", help="loopback port the app is published on"),
) -> None:
    """Bring the lab up on a variant and profile (safe to run twice)."""
    selection = catalog.Selection.of(variant, profile, _knobs(worker_class, workers, threads, conn_max_age))
    stack = lab.up(selection, app_port=app_port)
    settings = stack.app_settings()
    console.print(f"lab is up: {variant} + {profile}; app on http://127.0.0.1:{app_port}/api/v1/healthz/ "
              f"({settings.get('WORKER_CLASS')} x{settings.get('WORKERS')}, threads {settings.get('THREADS')}, "
              f"CONN_MAX_AGE={settings.get('CONN_MAX_AGE')})")


@app.command()
def load(
    scenario: str = typer.Option("ab", envvar="SCENARIO", help="ab (the incident's ab -n/-c) or ramp"),
    vus: int = typer.Option(500, envvar="VUS", help="concurrent clients (ab -c)"),
    iterations: int = typer.Option(10000, envvar="ITERATIONS", help="total requests (ab -n)"),
    keepalive: bool = typer.Option(False, "--keepalive/--no-keepalive", envvar="KEEPALIVE",
                                   help="HTTP keep-alive (ab uses none)"),
    endpoint: str = typer.Option("/api/v1/healthz/", envvar="ENDPOINT", help="path to load"),
    sample_interval: float = typer.Option(1.0, envvar="SAMPLE_INTERVAL", help="seconds between evidence samples"),
) -> None:
    """Put k6 load on the running lab, record evidence, summarise and diagnose the outcome."""
    params = loadrun.LoadParams(scenario=scenario, vus=vus, iterations=iterations,
                                keepalive=keepalive, endpoint=endpoint, sample_interval=sample_interval)
    stack = lab.current_stack()
    result = loadrun.run(stack, params)
    terminal.run_summary(result)


@app.command()
def diagnose(
    run: str = typer.Option("", envvar="RUN", help="a finished run's id (folder under results/); "
                                                   "empty = the running lab, sampled now"),
    seconds: float = typer.Option(5.0, help="how long to sample the running lab"),
) -> None:
    """A verdict in plain words, with the numbers behind it."""
    if run:
        from churnlab.paths import RESULTS_DIR

        run_dir = RESULTS_DIR / run
        if not (run_dir / "run.json").is_file():
            known = sorted(p.name for p in RESULTS_DIR.glob("*/run.json"))[-5:] if RESULTS_DIR.exists() else []
            raise LabError(f"no run {run!r} under results/" + (f"; recent runs: {', '.join(known)}" if known else ""))
        verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    else:
        from churnlab import live

        verdict = live.diagnose(lab.current_stack(), seconds)
    terminal.verdict(verdict)


@app.command("matrix")
def run_matrix(
    variants: str = typer.Option(",".join(catalog.variants()), envvar="VARIANTS", help="comma-separated"),
    profiles: str = typer.Option("repro,tuned", envvar="PROFILES", help="comma-separated"),
    vus: str = typer.Option("500", envvar="VUS_LEVELS", help="comma-separated concurrency levels"),
    iterations: int = typer.Option(10000, envvar="ITERATIONS", help="requests per run"),
    keepalive: bool = typer.Option(False, "--keepalive/--no-keepalive", envvar="KEEPALIVE"),
) -> None:
    """Run VARIANTS x PROFILES x VUS levels; write results/matrix-<id>/report.html and summary.md."""
    def split(text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    try:
        levels = [int(v) for v in split(vus)]
    except ValueError as exc:
        raise LabError(f"VUS_LEVELS must be comma-separated whole numbers, got {vus!r}") from exc
    result = matrix.run(split(variants), split(profiles), levels, iterations, keepalive)
    if result.report:
        console.print(f"report: {result.report}\nsummary: {result.matrix_dir / 'summary.md'}")
    if result.interrupted:
        sys.exit(130)
    if result.stopped:
        console.print(f"[red]the matrix stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(1)


@app.command()
def logs(service: str = typer.Argument("app"), tail: int = typer.Option(100)) -> None:
    """Show the last lines of a lab service's log."""
    stack = lab.current_stack()
    stack.run("logs", "--tail", str(tail), service)


@app.command()
def down() -> None:
    """Stop the lab: no containers or networks are left behind (data volume kept)."""
    lab.down()


@app.command()
def clean() -> None:
    """Stop the lab and remove its volumes too."""
    lab.down(volumes=True)


@app.command()
def demo(
    vus: int = typer.Option(500, envvar="VUS"),
    iterations: int = typer.Option(10000, envvar="ITERATIONS"),
) -> None:
    """The incident in two acts: direct + repro fails, gthread + repro holds."""
    params = loadrun.LoadParams(vus=vus, iterations=iterations)
    acts = [("direct", "the incident: eventlet x6, a new DB connection per request, 1,000 ephemeral ports"),
            ("gthread", "the fix: gthread 20 x 40 with persistent connections, same ports, same load")]
    try:
        for variant, story in acts:
            console.rule(f"[bold]{variant} + repro[/]: {story}")
            stack = lab.up(catalog.Selection.of(variant, "repro"))
            terminal.run_summary(loadrun.run(stack, params))
    finally:
        lab.down()


def main() -> None:
    try:
        app()
    except LabError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
