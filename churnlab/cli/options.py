"""What every command shares: options read from make's variables, and the
parsers that turn a value into one clear line and exit code 2 when it is bad.

make passes its variables through the environment (each option names its
variable), never through shell-quoted argv, so any value arrives intact and is
checked here. Values are taken as strings and parsed by churnlab.core.bounds,
so even typer's own conversions cannot end in a traceback.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable

import typer

from churnlab.core import bounds, hooks
from churnlab.core.errors import LabError
from churnlab.evidence import alert_rules

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
LAB_INVENTORY = "inventories/lab"


def opt(envvar: str, default: str, text: str) -> str:
    return typer.Option(default, envvar=envvar, help=f"{text} [{envvar}]", show_default=bool(default))


# Every make variable a command reads: its default and what it takes, once (docs/variables.md
# is written from these through the commands). A command names the ones it reads with
# @takes(...); an empty default lets the command tell a value the user named from none.
VARIABLES: dict[str, tuple[str, str]] = {
    "VARIANT": ("direct", "a variant of config/presets.yml"),
    "PROFILE": ("repro", "a kernel profile of config/presets.yml"),
    "WORKER_CLASS": ("", "override the variant's gunicorn worker class"),
    "WORKERS": ("", "override the number of gunicorn workers (1-64)"),
    "THREADS": ("", "override threads per worker, gthread (1-256)"),
    "CONN_MAX_AGE": ("", "override Django CONN_MAX_AGE (0-86400 s)"),
    "WORKER_CONNECTIONS": ("", "override gunicorn's client connections per worker"),
    "GUNICORN_BACKLOG": ("", "override gunicorn's listen backlog (1-65535)"),
    "CONN_HEALTH_CHECKS": ("", "override Django CONN_HEALTH_CHECKS (0 or 1)"),
    "APP_PORT": ("8000", "loopback port the app is published on (1024-65535)"),
    "PG_MAJOR": ("", "PostgreSQL major of the db image: 14 (default, the incident's) or 15 (Debian's)"),
    "FRONT": ("none", "none, or https: nginx terminates TLS before gunicorn"),
    "HTTPS_PORT": ("8443", "FRONT=https: loopback port of the front (1024-65535)"),
    "FRONT_KEEPALIVE": ("0", "FRONT=https: idle upstream connections per nginx worker"),
    "OBSERVE": ("0", "1: also Prometheus, exporters and the alert rules"),
    "PROM_PORT": ("9090", "loopback port of Prometheus with OBSERVE=1 (1024-65535)"),
    "SERVICE": ("app", "a lab service: app, db, migrate, pgbouncer, front or k6"),
    "SCENARIO": ("", "ab (the incident's ab -n/-c) or ramp; default ab"),
    "VUS": ("", "concurrent clients, ab -c (1-5000); default 500"),
    "ITERATIONS": ("", "total requests, ab -n (1-1000000); default 10000, or 1000000 time-boxed by the "
                       "fault's window with FAULT"),
    "KEEPALIVE": ("", "HTTP keep-alive, 1 or 0 (ab uses none); default 0"),
    "ENDPOINT": ("/api/v1/healthz/", "path to load"),
    "SAMPLE_INTERVAL": ("1", "seconds between evidence samples (0.1-60)"),
    "LOADGENS": ("", "k6 generators sharing the run by execution segments (1-8; default 1)"),
    "LOADGEN_PORT_RANGE": ("", "the generators' own port range, 'low high' (default 1024 65535)"),
    "LOADGEN_CPUS": ("", "CPUs each generator may use (0.05-64; default: no limit)"),
    "FAULT": ("", "a fault mid-load: db-restart, db-pause, pgbouncer-kill, db-network-cut, or a degradation: "
                  "db-slow, db-lossy (hosts: lab hosts only)"),
    "FAULT_AT": ("", "seconds after the load starts that the fault begins (default 10)"),
    "FAULT_FOR": ("", "seconds the fault lasts (default 10)"),
    "FAULT_TAIL": ("", "seconds of load after the fault, to see the recovery (default 15)"),
    "FAULT_DB_CPUS": ("", "FAULT=db-slow: CPUs the database keeps (above 0, at most this machine's; default 0.05)"),
    "FAULT_LOSS_PCT": ("", "FAULT=db-lossy: percent of the app's packets toward the DB dropped (0-100, "
                           "exclusive; default 10)"),
    "FAULT_DELAY_MS": ("", "FAULT=db-slow: network delay added to the DB's packets, ms (needs netem)"),
    "RUN": ("", "a finished run's id (folder under results/); empty = the running lab, sampled now"),
    "DIAG_SECONDS": ("", "seconds the running lab or the hosts are sampled (1-300); default 5"),
    "SNAPSHOT": ("", "a snapshot written by `churnlab investigate --snapshot FILE`: its verdict, offline"),
    "VARIANTS": ("", "variants, comma- or space-separated; empty = all"),
    "PROFILES": ("repro,tuned", "kernel profiles, comma- or space-separated"),
    "VUS_LEVELS": ("500", "concurrency levels, comma- or space-separated (each 1-5000)"),
    "RANK_VARIANTS": ("", "fixes to rank: variants of presets.yml's rank list, or variant+profile; "
                          "empty = the whole list"),
    "RANK_LEVELS": ("500,2000,5000", "concurrency levels (ab -c), each 1-5000"),
    "RANK_ITERATIONS": ("10000", "requests per run (ab -n), at least the level"),
    "RANK_REPRO": ("1", "1: also run each fix on the repro profile (holds under repro?)"),
    "INVENTORY": ("", "inventory folder (default inventories/lab)"),
    "LIMIT": ("", "investigate, sampler: which app hosts, an Ansible pattern (app1, app1:app2); empty = all"),
    "CHECK": ("", "1: dry run (--check --diff), nothing changes"),
    "CONFIRM": ("", "yes (or the inventory's name): go ahead on hosts outside the lab network; "
                    "counts only on this command's own command line"),
    "CONFIRM_REPRO": ("", "yes (or the inventory's name): the incident's settings or load on hosts outside "
                          "the lab; counts only on this command's own command line"),
    "ANSIBLE_ARGS": ("", "extra ansible-playbook options (an allowlist)"),
    "REMOVE": ("", "sampler: 1 removes the socket sampler (what its local fact names) instead of installing it"),
    "SCRAPE_INTERVAL": ("", "alert-rules: the Prometheus scrape (and rule evaluation) interval the rules are "
                            f"rendered for, 1s-300s; default {alert_rules.PRODUCTION_SCRAPE_S}s "
                            f"(the lab's is {alert_rules.LAB_SCRAPE_S}s)"),
    "RUNBOOK_BASE": ("", "alert-rules: absolute http(s) URL each rule's runbook_url starts with; default "
                         f"{alert_rules.DEFAULT_RUNBOOK_BASE}"),
    "RULES_FILE": ("", "alert-rules: the file to write; default "
                       f"{alert_rules.DEFAULT_RULES_FILE.format(scrape_s='<N>')}"),
}


def option(name: str, default: str | None = None, text: str | None = None):
    """The typer option of make variable `name`, from VARIABLES unless the command says otherwise."""
    base_default, base_text = VARIABLES[name]
    return opt(name, base_default if default is None else default, base_text if text is None else text)


class Values(dict):
    """The make variables a command reads, by name: values["VUS"]; `given`: the names given on this
    command's own command line (see given_here)."""

    given: frozenset[str] = frozenset()


# make lists the variables named on its own command line in CHURNLAB_GIVEN (the Makefile's GIVEN:
# $(origin) is "command line" only for those). make passes every variable through the environment,
# so this is how the CLI tells `make provision CONFIRM=yes` from a CONFIRM exported in the shell.
MAKE_GIVEN = "CHURNLAB_GIVEN"


def given_here(name: str, source: str) -> bool:
    """Whether variable `name` was given on this command's own command line: the CLI's (--confirm yes),
    or make's (listed in CHURNLAB_GIVEN, trusted only under make). Inherited from the environment: no.
    `source` is where click took the value from (ParameterSource's name)."""
    if source == "COMMANDLINE":
        return True
    if source == "ENVIRONMENT" and os.environ.get("MAKELEVEL"):
        return name in os.environ.get(MAKE_GIVEN, "").split()
    return False


_CTX = "churnlab_context"  # the typer.Context @takes asks for, to tell where each value came from


def takes(*names: str, **changed: tuple[str, str]) -> Callable:
    """Give a command one option per make variable named (default and help from VARIABLES, or
    changed[NAME] = (default, help) where the command reads it otherwise). The command gets them
    as its first argument, a Values; its own other parameters follow as typer declares them."""
    def wrap(command: Callable) -> Callable:
        own = list(inspect.signature(command).parameters.values())[1:]
        made = [inspect.Parameter(name.lower(), inspect.Parameter.KEYWORD_ONLY, annotation=str,
                                  default=option(name, *changed.get(name, (None, None)))) for name in names]
        context = inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(command)
        def run(**kwargs):
            ctx = kwargs.pop(_CTX)
            values = Values({name: kwargs.pop(name.lower()) for name in names})
            values.given = frozenset(name for name in names
                                     if given_here(name, getattr(ctx.get_parameter_source(name.lower()), "name", "")))
            return command(values, **kwargs)

        run.__signature__ = inspect.Signature([context, *made, *(p.replace(kind=p.KEYWORD_ONLY) for p in own)])
        run.__annotations__ = {_CTX: typer.Context} | {p.name: str for p in made} | \
            {p.name: p.annotation for p in own}
        return run
    return wrap


def or_default(value: str, default: str) -> str:
    """An empty value (an empty make variable) means the default."""
    return value.strip() or default


def flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise LabError(f"{name}={value!r} must be one of: 1 0 true false yes no on off")


def choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise LabError(f"unknown {name} {value!r}; valid {name}s: {', '.join(valid)}")
    return value


def run_id(value: str) -> str:
    """A finished run's folder name under results/ (no path, no '..')."""
    name = value.strip().removeprefix("results/").rstrip("/")
    if not RUN_ID.fullmatch(name) or ".." in name:
        raise LabError(f"RUN={value!r} must be a run id: a folder name under results/ (letters, digits, . _ -)")
    return name


def load_params(scenario: str, vus: str, iterations: str, keepalive: str, sample_interval: str,
                endpoint: str = "/api/v1/healthz/", loadgens: str = "1", loadgen_port_range: str = "",
                loadgen_cpus: str = ""):
    from churnlab.load import run as loadrun

    given = {"LOADGENS": loadgens, "LOADGEN_PORT_RANGE": loadgen_port_range}
    for defaults in hooks.load_defaults.fire():  # e.g. a running exercise's generator
        for name, value in (defaults or {}).items():
            if name in given and not given[name].strip():
                given[name] = value
    return loadrun.LoadParams(
        scenario=choice("SCENARIO", or_default(scenario, "ab"), loadrun.SCENARIOS),
        vus=bounds.whole("VUS", or_default(vus, "500")),
        iterations=bounds.whole("ITERATIONS", or_default(iterations, "10000")),
        keepalive=flag("KEEPALIVE", keepalive),
        endpoint=or_default(endpoint, "/api/v1/healthz/"),
        sample_interval=float(bounds.number("SAMPLE_INTERVAL", or_default(sample_interval, "1"))),
        loadgens=bounds.whole("LOADGENS", or_default(given["LOADGENS"], "1")),
        loadgen_port_range=given["LOADGEN_PORT_RANGE"].strip(),  # checked by LoadParams
        loadgen_cpus=loadgen_cpus.strip())




FAULT_VARIABLES = ("FAULT", "FAULT_AT", "FAULT_FOR", "FAULT_TAIL", "FAULT_DB_CPUS", "FAULT_LOSS_PCT", "FAULT_DELAY_MS")


def fault_and_load(v: Values):
    """The fault asked for (None without FAULT) and the load's parameters, both checked before
    anything starts; with a fault and no ITERATIONS, the load is time-boxed by the fault's window."""
    from churnlab import faults

    chosen = faults.plan(*(v[name] for name in FAULT_VARIABLES))
    iterations = v["ITERATIONS"]
    if chosen and not iterations.strip():
        iterations = str(faults.FAULT_ITERATIONS)
    params = load_params(v.get("SCENARIO", ""), v["VUS"], iterations, v.get("KEEPALIVE", ""),
                         v.get("SAMPLE_INTERVAL", ""), v.get("ENDPOINT", ""), v.get("LOADGENS", ""),
                         v.get("LOADGEN_PORT_RANGE", ""), v.get("LOADGEN_CPUS", ""))
    return chosen, params
