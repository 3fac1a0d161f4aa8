"""Ansible on hosts, the lab hosts or real ones: `churnlab hosts ...`."""
from __future__ import annotations

import typer

from churnlab.cli.options import (
    ARGS_OPT,
    CONFIRM_OPT,
    INVENTORY_OPT,
    LAB_INVENTORY,
    flag,
    load_params,
    opt,
    or_default,
)
from churnlab.core import bounds
from churnlab.core.console import console

app = typer.Typer(no_args_is_help=True, help="Ansible on hosts: lab hosts up/down, provision, load, diagnose.")


@app.command("up")
def hosts_up() -> None:
    """Start the lab hosts (db1 pgbouncer1 app1 loadgen1 loadgen2) and pin their SSH host keys."""
    from churnlab.hosts import lab as lab_hosts

    lab_hosts.up()


@app.command("down")
def hosts_down() -> None:
    """Stop and remove the lab hosts; no container or network is left."""
    from churnlab.hosts import lab as lab_hosts

    lab_hosts.down()


@app.command("demo")
def hosts_demo() -> None:
    """The incident as reported (app and Postgres on one lab host), then the fix; the hosts come down after."""
    from churnlab.hosts import inventory as hosts

    hosts.demo()


@app.command("status")
def hosts_status() -> None:
    """The lab hosts that exist, with their addresses."""
    from churnlab.hosts import lab as lab_hosts

    found = lab_hosts.status()
    console.print("\n".join(f"{name} {ip or '(stopped)'}" for name, ip in sorted(found.items()))
                  or "no lab hosts: `make hosts-up` starts them")


@app.command("provision")
def hosts_provision(
    inventory: str = INVENTORY_OPT,
    variant: str = opt("VARIANT", "", "default: the inventory's own churnlab_variant"),
    profile: str = opt("PROFILE", "", "default: the inventory's own sysctl_profile"),
    check: str = opt("CHECK", "", "1: dry run (--check --diff), nothing changes"),
    confirm: str = CONFIRM_OPT,
    confirm_repro: str = opt("CONFIRM_REPRO", "", "yes: apply the incident's settings to hosts outside the lab"),
    ansible_args: str = ARGS_OPT,
) -> None:
    """Converge the hosts of an inventory (playbooks/site.yml)."""
    from churnlab.hosts import inventory as hosts

    hosts.provision(or_default(inventory, LAB_INVENTORY), variant.strip() or None, profile.strip() or None,
                    check=flag("CHECK", check), confirm=flag("CONFIRM", confirm),
                    confirm_repro=flag("CONFIRM_REPRO", confirm_repro),
                    ansible_args=ansible_args)


@app.command("load")
def hosts_load(
    inventory: str = INVENTORY_OPT,
    scenario: str = opt("SCENARIO", "", "ab or ramp"),
    vus: str = opt("VUS", "", "concurrent clients (ab -c), default 500"),
    iterations: str = opt("ITERATIONS", "", "total requests (ab -n), default 10000"),
    keepalive: str = opt("KEEPALIVE", "", "1: HTTP keep-alive (ab uses none)"),
    confirm: str = CONFIRM_OPT,
    ansible_args: str = ARGS_OPT,
    fault: str = opt("FAULT", "", "a fault mid-load (lab hosts only)"),
    fault_at: str = opt("FAULT_AT", "", "seconds after the load starts that the fault begins"),
    fault_for: str = opt("FAULT_FOR", "", "seconds the fault lasts"),
    fault_tail: str = opt("FAULT_TAIL", "", "seconds of load after the fault, to see the recovery"),
) -> None:
    """k6 from the load generator host against the app host; results/<run-id>/ as the compose lab writes."""
    from churnlab.faults import plan as faults
    from churnlab.hosts import inventory as hosts

    chosen = faults.plan(fault, fault_at, fault_for, fault_tail)
    if chosen and not iterations.strip():
        iterations = str(faults.FAULT_ITERATIONS)  # time-boxed by the fault's window instead
    params = load_params(scenario, vus, iterations, keepalive, "1")
    hosts.load(or_default(inventory, LAB_INVENTORY), params.scenario, params.vus, params.iterations,
               params.keepalive, confirm=flag("CONFIRM", confirm), ansible_args=ansible_args, fault=chosen)


@app.command("diagnose")
def hosts_diagnose(
    inventory: str = INVENTORY_OPT,
    seconds: str = opt("DIAG_SECONDS", "", "seconds of socket samples, 1-300"),
    confirm: str = CONFIRM_OPT,
    ansible_args: str = ARGS_OPT,
) -> None:
    """Read-only verdict from the hosts: sockets, the app's journal, pg_stat_activity."""
    from churnlab.hosts import inventory as hosts

    hosts.diagnose(or_default(inventory, LAB_INVENTORY), bounds.whole("DIAG_SECONDS", or_default(seconds, "5")),
                   confirm=flag("CONFIRM", confirm), ansible_args=ansible_args)
