"""What every command shares: options read from make's variables, and the
parsers that turn a value into one clear line and exit code 2 when it is bad.

make passes its variables through the environment (each option names its
variable), never through shell-quoted argv, so any value arrives intact and is
checked here. Values are taken as strings and parsed by churnlab.core.bounds,
so even typer's own conversions cannot end in a traceback.
"""
from __future__ import annotations

import re

import typer

from churnlab.core import bounds, hooks
from churnlab.core.errors import LabError

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
LAB_INVENTORY = "inventories/lab"


def opt(envvar: str, default: str, text: str) -> str:
    return typer.Option(default, envvar=envvar, help=f"{text} [{envvar}]", show_default=bool(default))


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


INVENTORY_OPT = opt("INVENTORY", "", "inventory folder (default inventories/lab)")
CONFIRM_OPT = opt("CONFIRM", "", "yes: go ahead on hosts outside the lab network")
ARGS_OPT = opt("ANSIBLE_ARGS", "", "extra ansible-playbook options (an allowlist)")
PG_MAJOR_OPT = opt("PG_MAJOR", "", "PostgreSQL major of the db image: 14 (default, the incident's) or 15 (Debian's)")
