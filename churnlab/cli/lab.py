"""The compose lab's commands: variants, images, up, logs, down, clean, demo."""
from __future__ import annotations

import typer

from churnlab.cli.options import Values, choice, flag, load_params, or_default, takes
from churnlab.core import bounds, catalog, hooks
from churnlab.core.console import console
from churnlab.core.errors import LabError

app = typer.Typer()
SERVICES = ("app", "db", "migrate", "pgbouncer", "front", "k6")


@app.command("variants")
def list_variants(
    names: str = typer.Option("", "--names", help="print only the names of: variants or profiles"),
) -> None:
    """List the variants and kernel profiles (config/presets.yml) and every knob's range."""
    if names:
        kind = choice("list", names, ("variants", "profiles"))
        print(" ".join(catalog.variants() if kind == "variants" else catalog.profiles()))
        return
    width = max(16, *(len(n) for n in catalog.variants() + catalog.profiles()))
    print("VARIANT (config/presets.yml):")
    for name in catalog.variants():
        print(f"  {name:<{width}} {catalog.about('variant', name)}")
        bound = catalog.db_bound(catalog.variant(name))
        if bound:  # a pool's bound on the DB connections, stated where the variant is chosen
            print(f"  {'':<{width}}   DB bound: {bound[1]} = {bound[0]:,} connections")
    print("PROFILE (kernel sysctls of the app host):")
    for name in catalog.profiles():
        print(f"  {name:<{width}} {catalog.about('profile', name)}")
    print("Ranges (a value outside is refused before anything starts):")
    for line in bounds.describe():
        print(f"  {line}")


@app.command("images")
@takes("PG_MAJOR")
def build_images(v: Values) -> None:
    """Build every image locally (base from debootstrap unless BASE_IMAGE is set; the db of PG_MAJOR)."""
    from churnlab.compose import images
    from churnlab.compose.stack import check_pg_major, require_docker

    major = check_pg_major(v["PG_MAJOR"])
    require_docker()
    for ref in images.build_all(major):
        print(ref)


@app.command()
@takes("VARIANT", "PROFILE", *catalog.KNOBS, "APP_PORT", "PG_MAJOR", "FRONT", "HTTPS_PORT", "FRONT_KEEPALIVE",
       "OBSERVE", "PROM_PORT")
def up(v: Values) -> None:
    """Bring the lab up on a variant and profile (safe to run twice)."""
    from churnlab.compose import lab
    from churnlab.compose.stack import FRONTS, check_pg_major

    if hooks.lab_up.taken():  # e.g. a running exercise brings its own stack back
        console.print("lab is up: the running exercise's app host, as last applied (training/workspace/fix.yml "
                      "is applied by `make exercise-check`)")
        return

    knobs = {name: v[name] for name in catalog.KNOBS}
    selection = catalog.Selection.of(or_default(v["VARIANT"], "direct"), or_default(v["PROFILE"], "repro"), knobs,
                                     observe=flag("OBSERVE", or_default(v["OBSERVE"], "0")))
    port = bounds.whole("APP_PORT", or_default(v["APP_PORT"], "8000"))
    chosen_front = choice("FRONT", or_default(v["FRONT"], "none"), FRONTS)
    front_port = bounds.whole("HTTPS_PORT", or_default(v["HTTPS_PORT"], "8443"))
    keepalive = bounds.whole("FRONT_KEEPALIVE", or_default(v["FRONT_KEEPALIVE"], "0"))
    prom = bounds.whole("PROM_PORT", or_default(v["PROM_PORT"], "9090"))
    published = {"APP_PORT": port, "HTTPS_PORT": front_port if chosen_front == "https" else None,
                 "PROM_PORT": prom if selection.observe else None}
    taken = [name for name, value in published.items() if value is not None]
    for i, name in enumerate(taken):
        for other in taken[i + 1:]:
            if published[name] == published[other]:
                raise LabError(f"{name} and {other} are both {published[name]}; choose different ports")
    stack = lab.up(selection, app_port=port, pg_major=check_pg_major(v["PG_MAJOR"]), front=chosen_front,
                   https_port=front_port, front_keepalive=keepalive, prom_port=prom)
    settings = stack.app_settings()
    console.print(f"lab is up: {selection.variant} + {selection.profile}; "
                  f"app on http://127.0.0.1:{port}/api/v1/healthz/ "
                  f"({settings.get('WORKER_CLASS')} x{settings.get('WORKERS')}, threads {settings.get('THREADS')}, "
                  f"CONN_MAX_AGE={settings.get('CONN_MAX_AGE')}, "
                  f"CONN_HEALTH_CHECKS={settings.get('CONN_HEALTH_CHECKS')})")
    if chosen_front == "https":
        console.print(f"HTTPS front (nginx, self-signed) on https://127.0.0.1:{front_port}/api/v1/healthz/ "
                      f"(upstream keep-alive {keepalive or 'off'}); `make load` targets it")
    if selection.observe:
        console.print(f"Prometheus on http://127.0.0.1:{prom}/alerts (rules: config/prometheus/rules/)")


@app.command()
@takes("SERVICE")
def logs(v: Values, tail: str = typer.Option("100", help="lines to show (1-100000)")) -> None:
    """Show the last lines of a lab service's log."""
    from churnlab.compose import lab

    name = choice("service", or_default(v["SERVICE"], "app"), SERVICES)
    if len(tail) > 6 or not tail.isascii() or not tail.isdigit() or not 1 <= int(tail) <= 100000:
        raise LabError(f"--tail={bounds.shown(tail)} must be a whole number from 1 to 100,000")
    stack = lab.current_stack()
    stack.run("logs", "--tail", str(int(tail)), name)


@app.command()
def down() -> None:
    """Stop the lab: no containers or networks are left behind (data volume kept)."""
    from churnlab.compose import lab

    lab.down()


@app.command()
def clean() -> None:
    """Stop the lab and remove its volumes too."""
    from churnlab.compose import lab

    lab.down(volumes=True)


@app.command()
@takes("VUS", "ITERATIONS", ITERATIONS=("", "total requests, ab -n (1-1000000); default 10000"))
def demo(v: Values) -> None:
    """The incident in two acts: direct + repro fails, gthread + repro holds."""
    from churnlab.compose import lab
    from churnlab.compose.stack import check_pg_major
    from churnlab.load import run as loadrun
    from churnlab.load import show

    params = load_params("ab", v["VUS"], v["ITERATIONS"], "0", "1")
    check_pg_major()  # PG_MAJOR, read by both acts' stacks
    acts = [("direct", catalog.about("variant", "direct")), ("gthread", catalog.about("variant", "gthread"))]
    selections = [catalog.Selection.of(variant, "repro") for variant, _ in acts]
    try:
        for selection, (variant, story) in zip(selections, acts, strict=True):
            console.rule(f"[bold]{variant} + repro[/]: {story}")
            stack = lab.up(selection)
            show.run_summary(loadrun.run(stack, params))
    finally:
        lab.down()
