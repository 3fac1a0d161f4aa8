"""churnlab: the lab's command line. The Makefile is a front door to these commands."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from churnlab import catalog, images, lab, loadrun, render
from churnlab.docker_cli import require_docker
from churnlab.errors import LabError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce PostgreSQL connection churn and ephemeral-port exhaustion.")
err = Console(stderr=True)


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
    err.print(f"lab is up: {variant} + {profile}; app on http://127.0.0.1:{app_port}/api/v1/healthz/ "
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
) -> None:
    """Put k6 load on the running lab and summarise the outcome."""
    params = loadrun.LoadParams(scenario=scenario, vus=vus, iterations=iterations,
                                keepalive=keepalive, endpoint=endpoint)
    stack = lab.current_stack()
    result = loadrun.run(stack, params)
    render.run_summary(result)


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
            err.rule(f"[bold]{variant} + repro[/]: {story}")
            stack = lab.up(catalog.Selection.of(variant, "repro"))
            render.run_summary(loadrun.run(stack, params))
    finally:
        lab.down()


def main() -> None:
    try:
        app()
    except LabError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
