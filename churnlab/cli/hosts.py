"""Ansible on hosts, the lab hosts or real ones: `churnlab hosts ...`."""
from __future__ import annotations

import typer

from churnlab.cli.options import FAULT_VARIABLES, LAB_INVENTORY, Values, fault_and_load, flag, or_default, takes
from churnlab.core import bounds
from churnlab.core.console import console

app = typer.Typer(no_args_is_help=True, help="Ansible on hosts: lab hosts up/down, provision, load, investigate.")


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


def consent(v: Values):
    """CONFIRM and CONFIRM_REPRO as given, each with whether this command line named it (an exported value
    confirms nothing), and whether INVENTORY was named there too (or not at all: the lab's)."""
    from churnlab.hosts import guard

    words = {name: guard.Word(name, v.get(name, ""), name in v.given) for name in ("CONFIRM", "CONFIRM_REPRO")}
    return guard.Consent(words["CONFIRM"], words["CONFIRM_REPRO"],
                         inventory_here="INVENTORY" in v.given or not v["INVENTORY"].strip())


HOSTS_VARIANT = {"VARIANT": ("", "default: the inventory's own churnlab_variant"),
                 "PROFILE": ("", "default: the inventory's own sysctl_profile")}


@app.command("provision")
@takes("INVENTORY", "VARIANT", "PROFILE", "CHECK", "CONFIRM", "CONFIRM_REPRO", "ANSIBLE_ARGS", **HOSTS_VARIANT)
def hosts_provision(v: Values) -> None:
    """Converge the hosts of an inventory (playbooks/site.yml)."""
    from churnlab.hosts import inventory as hosts

    hosts.provision(or_default(v["INVENTORY"], LAB_INVENTORY), v["VARIANT"].strip() or None,
                    v["PROFILE"].strip() or None, check=flag("CHECK", v["CHECK"]), consent=consent(v),
                    ansible_args=v["ANSIBLE_ARGS"])


@app.command("load")
@takes("INVENTORY", "SCENARIO", "VUS", "ITERATIONS", "KEEPALIVE", "CONFIRM", "CONFIRM_REPRO", "ANSIBLE_ARGS",
       *FAULT_VARIABLES)
def hosts_load(v: Values) -> None:
    """k6 from the load generator host against the app host; results/<run-id>/ as the compose lab writes."""
    from churnlab.hosts import inventory as hosts

    chosen, params = fault_and_load(v)  # both checked before anything connects
    hosts.load(or_default(v["INVENTORY"], LAB_INVENTORY), params.scenario, params.vus, params.iterations,
               params.keepalive, consent=consent(v), ansible_args=v["ANSIBLE_ARGS"], fault=chosen)


@app.command("investigate")
@takes("INVENTORY", "LIMIT", "DIAG_SECONDS", "CONFIRM", "ANSIBLE_ARGS")
def hosts_investigate(v: Values) -> None:
    """Read-only: the probe on each app host, its snapshot into results/investigate-<id>/, the verdict per host."""
    from churnlab.hosts import inventory as hosts

    seconds = bounds.whole("DIAG_SECONDS", or_default(v["DIAG_SECONDS"], "5"))
    hosts.investigate(or_default(v["INVENTORY"], LAB_INVENTORY), seconds, v["LIMIT"], consent=consent(v),
                      ansible_args=v["ANSIBLE_ARGS"])


@app.command("sampler")
@takes("INVENTORY", "LIMIT", "REMOVE", "CHECK", "CONFIRM", "ANSIBLE_ARGS")
def hosts_sampler(v: Values) -> None:
    """The socket sampler as a systemd service writing node_exporter's textfile on each app host; REMOVE=1
    removes exactly what it installed."""
    from churnlab.hosts import inventory as hosts

    hosts.sampler(or_default(v["INVENTORY"], LAB_INVENTORY), v["LIMIT"], remove=flag("REMOVE", v["REMOVE"]),
                  check=flag("CHECK", v["CHECK"]), consent=consent(v), ansible_args=v["ANSIBLE_ARGS"])


# `churnlab hosts diagnose` (make provision-diagnose) is the same investigation, by its older name.
app.command("diagnose", hidden=True)(hosts_investigate)
