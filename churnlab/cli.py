"""churnlab: the lab's command line. The Makefile is a front door to these commands.

make passes its variables through the environment (each option names its
variable), never through shell-quoted argv, so any value arrives intact and is
checked here: a bad one is one line on stderr and exit code 2, and nothing starts.
Values are taken as strings and parsed by churnlab.bounds, so even typer's own
conversions cannot end in a traceback.
"""
from __future__ import annotations

import importlib
import re
import sys

import typer
from rich.markup import escape

from churnlab import bounds, catalog, terminal
from churnlab.errors import LabError
from churnlab.terminal import console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce PostgreSQL connection churn and ephemeral-port exhaustion.")

SERVICES = ("app", "db", "migrate", "pgbouncer", "front", "k6")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


def _opt(envvar: str, default: str, text: str) -> str:
    return typer.Option(default, envvar=envvar, help=f"{text} [{envvar}]", show_default=bool(default))


def _or(value: str, default: str) -> str:
    """An empty value (an empty make variable) means the default."""
    return value.strip() or default


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise LabError(f"{name}={value!r} must be one of: 1 0 true false yes no on off")


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise LabError(f"unknown {name} {value!r}; valid {name}s: {', '.join(valid)}")
    return value


def _run_id(value: str) -> str:
    """A finished run's folder name under results/ (no path, no '..')."""
    name = value.strip().removeprefix("results/").rstrip("/")
    if not RUN_ID.fullmatch(name) or ".." in name:
        raise LabError(f"RUN={value!r} must be a run id: a folder name under results/ (letters, digits, . _ -)")
    return name


def _load_params(scenario: str, vus: str, iterations: str, keepalive: str, sample_interval: str,
                 endpoint: str = "/api/v1/healthz/", loadgens: str = "1", loadgen_port_range: str = "",
                 loadgen_cpus: str = ""):
    from churnlab import loadrun

    return loadrun.LoadParams(
        scenario=_choice("SCENARIO", _or(scenario, "ab"), loadrun.SCENARIOS),
        vus=bounds.whole("VUS", _or(vus, "500")),
        iterations=bounds.whole("ITERATIONS", _or(iterations, "10000")),
        keepalive=_flag("KEEPALIVE", keepalive),
        endpoint=_or(endpoint, "/api/v1/healthz/"),
        sample_interval=float(bounds.number("SAMPLE_INTERVAL", _or(sample_interval, "1"))),
        loadgens=bounds.whole("LOADGENS", _or(loadgens, "1")),
        loadgen_port_range=loadgen_port_range.strip(),  # checked by LoadParams
        loadgen_cpus=loadgen_cpus.strip())


@app.command("variants")
def list_variants(
    names: str = typer.Option("", "--names", help="print only the names of: variants or profiles"),
) -> None:
    """List the variants and kernel profiles (config/presets.yml) and every knob's range."""
    if names:
        kind = _choice("list", names, ("variants", "profiles"))
        print(" ".join(catalog.variants() if kind == "variants" else catalog.profiles()))
        return
    width = max(16, *(len(n) for n in catalog.variants() + catalog.profiles()))
    print("VARIANT (config/presets.yml):")
    for name in catalog.variants():
        print(f"  {name:<{width}} {catalog.about('variant', name)}")
    print("PROFILE (kernel sysctls of the app host):")
    for name in catalog.profiles():
        print(f"  {name:<{width}} {catalog.about('profile', name)}")
    print("Ranges (a value outside is refused before anything starts):")
    for line in bounds.describe():
        print(f"  {line}")


PG_MAJOR_OPT = _opt("PG_MAJOR", "", "PostgreSQL major of the db image: 14 (default, the incident's) or 15 (Debian's)")


@app.command("images")
def build_images(pg_major: str = PG_MAJOR_OPT) -> None:
    """Build every image locally (base from debootstrap unless BASE_IMAGE is set; the db of PG_MAJOR)."""
    from churnlab import images
    from churnlab.compose_stack import check_pg_major, require_docker

    major = check_pg_major(pg_major)
    require_docker()
    for ref in images.build_all(major):
        print(ref)


@app.command()
def up(
    variant: str = _opt("VARIANT", "direct", "a variant of config/presets.yml"),
    profile: str = _opt("PROFILE", "repro", "a kernel profile of config/presets.yml"),
    worker_class: str = _opt("WORKER_CLASS", "", "override the variant's gunicorn worker class"),
    workers: str = _opt("WORKERS", "", "override the number of gunicorn workers (1-64)"),
    threads: str = _opt("THREADS", "", "override threads per worker, gthread (1-256)"),
    conn_max_age: str = _opt("CONN_MAX_AGE", "", "override Django CONN_MAX_AGE (0-86400 s)"),
    worker_connections: str = _opt("WORKER_CONNECTIONS", "", "override gunicorn's client connections per worker"),
    gunicorn_backlog: str = _opt("GUNICORN_BACKLOG", "", "override gunicorn's listen backlog (1-65535)"),
    conn_health_checks: str = _opt("CONN_HEALTH_CHECKS", "", "override Django CONN_HEALTH_CHECKS (0 or 1)"),
    app_port: str = _opt("APP_PORT", "8000", "loopback port the app is published on (1024-65535)"),
    pg_major: str = PG_MAJOR_OPT,
    front: str = _opt("FRONT", "none", "none, or https: nginx terminates TLS before gunicorn"),
    https_port: str = _opt("HTTPS_PORT", "8443", "FRONT=https: loopback port of the front (1024-65535)"),
    front_keepalive: str = _opt("FRONT_KEEPALIVE", "0", "FRONT=https: idle upstream connections per nginx worker"),
    observe: str = _opt("OBSERVE", "0", "1: also Prometheus, exporters and the alert rules"),
    prom_port: str = _opt("PROM_PORT", "9090", "loopback port of Prometheus with OBSERVE=1 (1024-65535)"),
) -> None:
    """Bring the lab up on a variant and profile (safe to run twice)."""
    from churnlab import lab
    from churnlab.compose_stack import FRONTS, check_pg_major
    from churnlab.training import labport  # training mode: an exercise's stack, no names shown

    if labport.guard_up():
        console.print("lab is up: the running exercise's app host, as last applied (training/workspace/fix.yml "
                      "is applied by `make exercise-check`)")
        return

    knobs = dict(zip(catalog.KNOBS, (worker_class, workers, threads, conn_max_age, worker_connections,
                                     gunicorn_backlog, conn_health_checks), strict=True))
    selection = catalog.Selection.of(_or(variant, "direct"), _or(profile, "repro"), knobs,
                                     observe=_flag("OBSERVE", _or(observe, "0")))
    port = bounds.whole("APP_PORT", _or(app_port, "8000"))
    chosen_front = _choice("FRONT", _or(front, "none"), FRONTS)
    front_port = bounds.whole("HTTPS_PORT", _or(https_port, "8443"))
    keepalive = bounds.whole("FRONT_KEEPALIVE", _or(front_keepalive, "0"))
    prom = bounds.whole("PROM_PORT", _or(prom_port, "9090"))
    published = {"APP_PORT": port, "HTTPS_PORT": front_port if chosen_front == "https" else None,
                 "PROM_PORT": prom if selection.observe else None}
    taken = [name for name, value in published.items() if value is not None]
    for i, name in enumerate(taken):
        for other in taken[i + 1:]:
            if published[name] == published[other]:
                raise LabError(f"{name} and {other} are both {published[name]}; choose different ports")
    stack = lab.up(selection, app_port=port, pg_major=check_pg_major(pg_major), front=chosen_front,
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
def load(
    scenario: str = _opt("SCENARIO", "ab", "ab (the incident's ab -n/-c) or ramp"),
    vus: str = _opt("VUS", "500", "concurrent clients, ab -c (1-5000)"),
    iterations: str = _opt("ITERATIONS", "", "total requests, ab -n (1-1000000); default 10000, "
                           "or 1000000 time-boxed by the fault's window with FAULT"),
    keepalive: str = _opt("KEEPALIVE", "0", "HTTP keep-alive, 1 or 0 (ab uses none)"),
    endpoint: str = _opt("ENDPOINT", "/api/v1/healthz/", "path to load"),
    sample_interval: str = _opt("SAMPLE_INTERVAL", "1", "seconds between evidence samples (0.1-60)"),
    loadgens: str = _opt("LOADGENS", "1", "k6 generators sharing the run by execution segments (1-8)"),
    loadgen_port_range: str = _opt("LOADGEN_PORT_RANGE", "", "the generators' own port range, 'low high' "
                                   "(default 1024 65535)"),
    loadgen_cpus: str = _opt("LOADGEN_CPUS", "", "CPUs each generator may use (0.05-64; default: no limit)"),
    fault: str = _opt("FAULT", "", "a fault mid-load: db-restart, db-pause, pgbouncer-kill or db-network-cut"),
    fault_at: str = _opt("FAULT_AT", "", "seconds after the load starts that the fault begins (default 10)"),
    fault_for: str = _opt("FAULT_FOR", "", "seconds the fault lasts (default 10)"),
    fault_tail: str = _opt("FAULT_TAIL", "", "seconds of load after the fault, to see the recovery (default 15)"),
) -> None:
    """Put k6 load on the running lab, record evidence, summarise and diagnose the outcome."""
    from churnlab import faults, lab, loadrun

    chosen = faults.plan(fault, fault_at, fault_for, fault_tail)  # faults: checked before anything starts
    if chosen and not iterations.strip():
        iterations = str(faults.FAULT_ITERATIONS)  # time-boxed by the fault's window instead
    params = _load_params(scenario, vus, iterations, keepalive, sample_interval, endpoint, loadgens,
                          loadgen_port_range, loadgen_cpus)
    stack = lab.current_stack()
    if chosen:
        faults.check_fits(chosen, stack.selection.variant, stack.app_settings(), stack.running_services())
    result = loadrun.run(stack, params, fault=chosen)
    from churnlab.training import labport  # training mode: no hidden names, no verdict unless allowed

    if not labport.summary(stack, result):
        terminal.run_summary(result)


@app.command()
def diagnose(
    run: str = _opt("RUN", "", "a finished run's id (folder under results/); empty = the running lab, sampled now"),
    seconds: str = _opt("DIAG_SECONDS", "5", "how long to sample the running lab (1-300)"),
) -> None:
    """A verdict in plain words, with the numbers behind it."""
    from churnlab import diagnosis
    from churnlab.training import labport

    labport.guard_diagnose()  # training mode: off during an exercise unless it allows it

    if run.strip():
        from churnlab.paths import RESULTS_DIR

        run_dir = RESULTS_DIR / _run_id(run)
        if not (run_dir / "run.json").is_file():
            known = sorted(p.parent.name for p in RESULTS_DIR.glob("*/run.json"))[-5:] if RESULTS_DIR.exists() else []
            raise LabError(f"no run {run_dir.name!r} under results/"
                           + (f"; recent runs: {', '.join(known)}" if known else ""))
        verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir))
    else:
        from churnlab import lab, live

        window = float(bounds.whole("DIAG_SECONDS", _or(seconds, "5")))
        verdict = live.diagnose(lab.current_stack(), window)
    terminal.verdict(verdict)


@app.command("matrix")
def run_matrix(
    variants: str = _opt("VARIANTS", "", "variants, comma- or space-separated; empty = all"),
    profiles: str = _opt("PROFILES", "repro,tuned", "kernel profiles, comma- or space-separated"),
    vus: str = _opt("VUS_LEVELS", "500", "concurrency levels, comma- or space-separated (each 1-5000)"),
    iterations: str = _opt("ITERATIONS", "10000", "requests per run (1-1000000)"),
    keepalive: str = _opt("KEEPALIVE", "0", "HTTP keep-alive, 1 or 0"),
) -> None:
    """Run VARIANTS x PROFILES x VUS levels; write results/matrix-<id>/report.html and summary.md."""
    from churnlab import matrix
    from churnlab.compose_stack import check_pg_major

    chosen_variants = bounds.split_list(variants) or catalog.variants()
    chosen_profiles = bounds.split_list(_or(profiles, "repro,tuned"))
    levels = [bounds.whole("VUS", level, "VUS_LEVELS") for level in bounds.split_list(_or(vus, "500"))]
    count = bounds.whole("ITERATIONS", _or(iterations, "10000"))
    matrix.plan(chosen_variants, chosen_profiles, levels)  # every name checked before anything starts
    check_pg_major()  # PG_MAJOR, read by every stack the matrix starts
    result = matrix.run(chosen_variants, chosen_profiles, levels, count, _flag("KEEPALIVE", keepalive))
    if result.report:
        console.print(f"report: {result.report}\nsummary: {result.matrix_dir / 'summary.md'}")
    if result.interrupted:
        sys.exit(130)
    if result.stopped:
        console.print(f"[red]the matrix stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(1)


# -- rank: begin (churnlab rank / make rank) ---------------------------------------
@app.command("rank")
def run_rank(
    variants: str = _opt("RANK_VARIANTS", "", "fixes to rank: variants of presets.yml's rank list, or "
                         "variant+profile; empty = the whole list"),
    levels: str = _opt("RANK_LEVELS", "500,2000,5000", "concurrency levels (ab -c), each 1-5000"),
    iterations: str = _opt("RANK_ITERATIONS", "10000", "requests per run (ab -n), at least the level"),
    repro: str = _opt("RANK_REPRO", "1", "1: also run each fix on the repro profile (holds under repro?)"),
    readme: bool = typer.Option(False, "--readme", help="write docs/variants.md's rank block from a rank.json "
                                "(RUN=rank-<id>; empty = the latest) instead of measuring"),
    run: str = _opt("RUN", "", "with --readme: the rank id (rank-<id>); empty = the latest"),
) -> None:
    """Measure every fix side by side: results/rank-<id>/rank.json, rank.md, report.html."""
    from churnlab import rank

    if readme:
        data = rank.read(_run_id(run) if run.strip() else None)
        console.print(f"rank block written from rank {data['rank_id']}: {rank.write_readme(data)}")
        return
    chosen = rank.candidates(bounds.split_list(variants))
    chosen_levels = [bounds.whole("VUS", v, "RANK_LEVELS") for v in bounds.split_list(_or(levels, "500,2000,5000"))]
    count = bounds.whole("ITERATIONS", _or(iterations, "10000"), "RANK_ITERATIONS")
    rank.plan(chosen, chosen_levels, count, _flag("RANK_REPRO", _or(repro, "1")))  # checked before anything starts
    result = rank.run(chosen, chosen_levels, count, _flag("RANK_REPRO", _or(repro, "1")))
    console.print(f"ranking: {' > '.join(result.data['order'])}\n"
                  f"rank: {result.rank_dir / 'rank.md'}\nreport: {result.rank_dir / 'report.html'}")
    if result.stopped:
        console.print(f"[red]the rank stopped ({result.stopped['reason']}):[/] {result.stopped['error']}")
        sys.exit(130 if result.stopped["reason"] == "interrupted" else 1)
# -- rank: end ------------------------------------------------------------------------


@app.command()
def logs(
    service: str = _opt("SERVICE", "app", f"one of: {', '.join(SERVICES)}"),
    tail: str = typer.Option("100", help="lines to show (1-100000)"),
) -> None:
    """Show the last lines of a lab service's log."""
    from churnlab import lab

    name = _choice("service", _or(service, "app"), SERVICES)
    if not tail.isascii() or not tail.isdigit() or not 1 <= int(tail) <= 100000:
        raise LabError(f"--tail={tail!r} must be a whole number from 1 to 100,000")
    stack = lab.current_stack()
    stack.run("logs", "--tail", str(int(tail)), name)


@app.command()
def down() -> None:
    """Stop the lab: no containers or networks are left behind (data volume kept)."""
    from churnlab import lab

    lab.down()


@app.command()
def clean() -> None:
    """Stop the lab and remove its volumes too."""
    from churnlab import lab

    lab.down(volumes=True)


@app.command()
def demo(
    vus: str = _opt("VUS", "500", "concurrent clients, ab -c (1-5000)"),
    iterations: str = _opt("ITERATIONS", "10000", "total requests, ab -n (1-1000000)"),
) -> None:
    """The incident in two acts: direct + repro fails, gthread + repro holds."""
    from churnlab import lab, loadrun
    from churnlab.compose_stack import check_pg_major

    params = _load_params("ab", vus, iterations, "0", "1")
    check_pg_major()  # PG_MAJOR, read by both acts' stacks
    acts = [("direct", catalog.about("variant", "direct")), ("gthread", catalog.about("variant", "gthread"))]
    selections = [catalog.Selection.of(variant, "repro") for variant, _ in acts]
    try:
        for selection, (variant, story) in zip(selections, acts, strict=True):
            console.rule(f"[bold]{variant} + repro[/]: {story}")
            stack = lab.up(selection)
            terminal.run_summary(loadrun.run(stack, params))
    finally:
        lab.down()


# -- training mode: begin (make exercise*; churnlab/training/) ----------------
from churnlab.training import commands as training_commands  # noqa: E402

app.add_typer(training_commands.app, name="exercise")
# -- training mode: end ---------------------------------------------------------


# -- Ansible on hosts: the lab hosts or real ones ---------------------------
hosts_app = typer.Typer(no_args_is_help=True, help="Ansible on hosts: lab hosts up/down, provision, load, diagnose.")
app.add_typer(hosts_app, name="hosts")


@hosts_app.command("up")
def hosts_up() -> None:
    """Start the lab hosts (db1 pgbouncer1 app1 loadgen1 loadgen2) and pin their SSH host keys."""
    from churnlab import lab_hosts

    lab_hosts.up()


@hosts_app.command("down")
def hosts_down() -> None:
    """Stop and remove the lab hosts; no container or network is left."""
    from churnlab import lab_hosts

    lab_hosts.down()


@hosts_app.command("demo")
def hosts_demo() -> None:
    """The incident as reported (app and Postgres on one lab host), then the fix; the hosts come down after."""
    from churnlab import hosts

    hosts.demo()


@hosts_app.command("status")
def hosts_status() -> None:
    """The lab hosts that exist, with their addresses."""
    from churnlab import lab_hosts

    found = lab_hosts.status()
    console.print("\n".join(f"{name} {ip or '(stopped)'}" for name, ip in sorted(found.items()))
                  or "no lab hosts: `make hosts-up` starts them")


LAB_INVENTORY = "inventories/lab"
INVENTORY_OPT = _opt("INVENTORY", "", "inventory folder (default inventories/lab)")
CONFIRM_OPT = _opt("CONFIRM", "", "yes: go ahead on hosts outside the lab network")
ARGS_OPT = _opt("ANSIBLE_ARGS", "", "extra ansible-playbook options (an allowlist)")


@hosts_app.command("provision")
def hosts_provision(
    inventory: str = INVENTORY_OPT,
    variant: str = _opt("VARIANT", "", "default: the inventory's own churnlab_variant"),
    profile: str = _opt("PROFILE", "", "default: the inventory's own sysctl_profile"),
    check: str = _opt("CHECK", "", "1: dry run (--check --diff), nothing changes"),
    confirm: str = CONFIRM_OPT,
    confirm_repro: str = _opt("CONFIRM_REPRO", "", "yes: apply the incident's settings to hosts outside the lab"),
    ansible_args: str = ARGS_OPT,
) -> None:
    """Converge the hosts of an inventory (playbooks/site.yml)."""
    from churnlab import hosts

    hosts.provision(_or(inventory, LAB_INVENTORY), variant.strip() or None, profile.strip() or None,
                    check=_flag("CHECK", check), confirm=_flag("CONFIRM", confirm),
                    confirm_repro=_flag("CONFIRM_REPRO", confirm_repro),
                    ansible_args=ansible_args)


@hosts_app.command("load")
def hosts_load(
    inventory: str = INVENTORY_OPT,
    scenario: str = _opt("SCENARIO", "", "ab or ramp"),
    vus: str = _opt("VUS", "", "concurrent clients (ab -c), default 500"),
    iterations: str = _opt("ITERATIONS", "", "total requests (ab -n), default 10000"),
    keepalive: str = _opt("KEEPALIVE", "", "1: HTTP keep-alive (ab uses none)"),
    confirm: str = CONFIRM_OPT,
    ansible_args: str = ARGS_OPT,
    fault: str = _opt("FAULT", "", "a fault mid-load (lab hosts only)"),
    fault_at: str = _opt("FAULT_AT", "", "seconds after the load starts that the fault begins"),
    fault_for: str = _opt("FAULT_FOR", "", "seconds the fault lasts"),
    fault_tail: str = _opt("FAULT_TAIL", "", "seconds of load after the fault, to see the recovery"),
) -> None:
    """k6 from the load generator host against the app host; results/<run-id>/ as the compose lab writes."""
    from churnlab import faults, hosts

    chosen = faults.plan(fault, fault_at, fault_for, fault_tail)
    if chosen and not iterations.strip():
        iterations = str(faults.FAULT_ITERATIONS)  # time-boxed by the fault's window instead
    params = _load_params(scenario, vus, iterations, keepalive, "1")
    hosts.load(_or(inventory, LAB_INVENTORY), params.scenario, params.vus, params.iterations, params.keepalive,
               confirm=_flag("CONFIRM", confirm), ansible_args=ansible_args, fault=chosen)


@hosts_app.command("diagnose")
def hosts_diagnose(
    inventory: str = INVENTORY_OPT,
    seconds: str = _opt("DIAG_SECONDS", "", "seconds of socket samples, 1-300"),
    confirm: str = CONFIRM_OPT,
    ansible_args: str = ARGS_OPT,
) -> None:
    """Read-only verdict from the hosts: sockets, the app's journal, pg_stat_activity."""
    from churnlab import hosts

    hosts.diagnose(_or(inventory, LAB_INVENTORY), bounds.whole("DIAG_SECONDS", _or(seconds, "5")),
                   confirm=_flag("CONFIRM", confirm),
                   ansible_args=ansible_args)


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """typer's parse errors: from its vendored click (typer >= 0.20) or from click itself."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


NO_ARGS, USAGE, ABORT = _click_errors("NoArgsIsHelpError"), _click_errors("UsageError"), _click_errors("Abort")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: a problem the user can fix is one line on stderr and exit code 2."""
    try:
        from churnlab.training import labport

        labport.activate()  # training mode: while an exercise runs, every command sees its stack
        code = app(args=argv, standalone_mode=False, prog_name="churnlab")
    except LabError as exc:
        first, *rest = str(exc).splitlines() or [""]
        console.print(f"[red]error:[/] {escape(first)}", highlight=False, soft_wrap=True)
        for line in rest:  # a failed command's log tail, after the one line
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except NO_ARGS as exc:
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx else "", file=sys.stderr)
        sys.exit(2)
    except USAGE as exc:
        console.print(f"[red]error:[/] {escape(_one_line(exc.format_message()))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except ABORT:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
