"""Faults mid-load on the LAB hosts: `make provision-load FAULT=<kind> [FAULT_AT= FAULT_FOR= FAULT_TAIL=]`.

The kinds, their defaults and bounds, the record and the recovery are
churnlab.faults.plan' (the compose lab's); this module only maps them onto hosts:

  db-restart      systemctl stop, then start, of PostgreSQL's server unit on the db host
  db-pause        SIGSTOP to every process of that unit (the postmaster and its backends), then SIGCONT
  pgbouncer-kill  SIGKILL to every process of pgbouncer.service, then systemctl start (where the variant
                  runs PgBouncer: its own host, or the app host for pgbouncer-local)
  db-network-cut  `ip route add unreachable <the app's DB address>/32` on the app host, then removed
  db-slow         `systemctl set-property --runtime` of PostgreSQL's server unit: CPUQuota=FAULT_DB_CPUS (as a
                  percent), then back to the CPUQuotaPerSecUSec it had (saved on the host first; empty: none);
                  with FAULT_DELAY_MS, netem on the db host's interface toward the app host, in place of the
                  kernel's default root qdisc only, then `tc qdisc del ... root` (refused before anything
                  starts, one line, where the db host's kernel has no netem, the route is loopback, or the
                  root qdisc is the owner's: the fault script's `can-delay`, asked over SSH)
  db-lossy        iptables on the app host: FAULT_LOSS_PCT % of its packets toward the DB address dropped, in
                  the lab's own chain CHURNLAB-LOSSY, then the jump and the chain removed (load.yml installs
                  Debian's iptables there first, if missing)

playbooks/load.yml copies playbooks/files/churnlab-fault.sh to the host and
runs its timer in the background from the shared start time (START_AT +
FAULT_AT); it undoes after FAULT_FOR, at once when the load fails, and the
play's always section undoes again (idempotent) and checks that nothing is
left broken. If the play is stopped (Ctrl-C) or fails, `undo_again` runs
playbooks/fault-undo.yml (its always section may not have run). Only on hosts that all lie in the lab network:
the guard (churnlab.hosts.guard.check), before anything connects, and the play
asserts the same addresses again.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from churnlab import faults
from churnlab.core import catalog, interrupts, run_record
from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT
from churnlab.hosts import guard as hosts_guard
from churnlab.hosts import lab as lab_hosts

APP_FACT = "/etc/ansible/facts.d/churnlab_app.fact"
TIMES = "fault.txt"          # the timer's "started/ended/error" lines, fetched from the host
UNDO_PLAYBOOK = "fault-undo.yml"
FAULT_SCRIPT = ROOT / "playbooks" / "files" / "churnlab-fault.sh"  # what load.yml runs on the host


def read_app_fact(address: str) -> dict:
    """The app host's local fact (variant, settings) over the lab's SSH: which variant really runs."""
    proc = subprocess.run(lab_hosts.ssh_argv(address, f"sudo -n cat {APP_FACT}", connect_timeout=5),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise LabError(f"FAULT needs a provisioned app host: {APP_FACT} could not be read on {address} "
                       f"({proc.stderr.strip()[-200:] or f'exit {proc.returncode}'}); run make provision first")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise LabError(f"{APP_FACT} on {address} is not JSON: {exc}") from exc


def services(variant: str) -> list[str]:
    """The compose service names of what the variant runs besides app and db (faults.check_fits' input)."""
    return ["pgbouncer"] if catalog.variant(variant).get("db_path", "direct") != "direct" else []


def where(chosen: faults.Plan, fact: dict) -> dict:
    """The fault on these hosts: the inventory group whose first host it acts on, and on what
    (a unit, or the app's DB address). Refused with one line when it does not fit the variant."""
    variant = str(fact.get("variant") or "")
    settings = {k: str(v) for k, v in (fact.get("settings") or {}).items()}
    try:
        running = services(variant)
    except LabError as exc:
        raise LabError(f"the app host runs {variant!r}, which this checkout does not know: {exc}") from exc
    faults.check_fits(chosen, variant, settings, running)
    if chosen.kind in ("db-restart", "db-pause", "db-slow"):
        return {"group": "db", "what": "postgresql"}
    if chosen.kind == "pgbouncer-kill":
        beside = catalog.variant(variant).get("db_path") == "pgbouncer-local"
        return {"group": "app" if beside else "pgbouncer", "what": "pgbouncer"}
    address = settings.get("DB_HOST", "")
    try:
        inside = ipaddress.ip_address(address) in hosts_guard.LAB_NETWORK
    except ValueError:
        inside = False
    if not inside:
        raise LabError(f"FAULT={chosen.kind} needs the app's DB host as an address in the lab network "
                       f"{hosts_guard.LAB_NETWORK}; the app host has DB_HOST={address!r}")
    return {"group": "app", "what": address}


def extra_vars(chosen: faults.Plan, placed: dict, addresses: list[str]) -> dict:
    """What load.yml (and fault-undo.yml) get as `load_fault`: the plan, where it acts, the
    addresses the guard checked (the play asserts its hosts are among them), the settle time."""
    setting = chosen.db_cpus if chosen.kind == "db-slow" else chosen.loss_pct if chosen.kind == "db-lossy" else ""
    return {"load_fault": {"kind": chosen.kind, "at": chosen.at, "for": chosen.duration, "tail": chosen.tail,
                           "setting": "" if setting in ("", None) else f"{setting:g}",
                           # db-slow with FAULT_DELAY_MS: netem on the DB host's interface toward the app host
                           "delay_ms": chosen.delay_ms or "", "toward": placed.get("toward", ""),
                           "load_seconds": chosen.load_seconds, "group": placed["group"], "what": placed["what"],
                           "settle_seconds": faults.SETTLE_SECONDS, "lab_addresses": sorted(addresses)}}


def prepare(t, chosen: faults.Plan) -> dict:
    """Checked before the play starts (one line, exit 2, nothing started): the `load_fault` extra vars."""
    apps = [h for h in t.decision.hosts if "app" in h.groups]
    if not apps:
        raise LabError(f"{t.label} has no app host")
    placed = where(chosen, read_app_fact(apps[0].address))
    if chosen.delay_ms:
        dbs = [h for h in t.decision.hosts if placed["group"] in h.groups]
        if not dbs:
            raise LabError(f"{t.label} has no {placed['group']} host")
        placed["toward"] = apps[0].address
        why = cannot_delay(dbs[0].address, apps[0].address)
        if why:
            raise LabError(f"FAULT_DELAY_MS={chosen.delay_ms} cannot delay {dbs[0].name}'s packets: {why}; "
                           f"FAULT=db-slow without it slows the DB by CPU alone")
    return extra_vars(chosen, placed, [h.address for h in t.decision.hosts])


def cannot_delay(address: str, toward: str) -> str | None:
    """Why netem cannot delay the packets of the host at `address` toward `toward` (its kernel has no
    netem, the route is loopback, the interface's root qdisc is the owner's), in the host's words; None where
    it can. Asked by the fault script itself (`can-delay`, sent on stdin), the one that puts the delay in place."""
    command = f"sudo -n bash -s -- can-delay db-slow postgresql {shlex.quote(toward)}"
    proc = subprocess.run(lab_hosts.ssh_argv(address, command, connect_timeout=5),
                          input=FAULT_SCRIPT.read_text(), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"FAULT_DELAY_MS: {address} could not be asked whether netem can delay its packets "
                       f"({proc.stderr.strip()[-200:] or f'exit {proc.returncode}'})")
    return proc.stdout.strip() or None


def undo_again(run_undo: Callable[[], None]) -> None:
    """After Ctrl-C or a failed load.yml: fault-undo.yml (run_undo), idempotent, with SIGINT held off
    (its ansible-playbook inherits that: a second Ctrl-C does not stop the undo)."""
    with interrupts.held():
        console.print(f"[yellow]the load stopped or failed:[/] undoing the fault again (playbooks/{UNDO_PLAYBOOK})")
        try:
            run_undo()
        except LabError as exc:
            console.print(f"[red]undoing the fault failed:[/] {exc}")


# -- the record, built by churnlab.hosts.run from what load.yml fetched ------------------------
def _iso(epoch) -> str | None:
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc).isoformat(timespec="milliseconds")
    except (TypeError, ValueError):
        return None


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_times(path: Path) -> tuple[str | None, str | None, list[str]]:
    """(started, ended, errors) from the timer's lines; missing file: nothing happened."""
    started = ended = None
    errors: list[str] = []
    if not path.exists():
        return None, None, ["the fault's timer left no record (fault.txt was not fetched)"]
    for line in path.read_text(errors="replace").splitlines():
        word, _, rest = line.partition(" ")
        if word == "started":
            started = _iso(rest)
        elif word == "ended":
            ended = _iso(rest)
        elif word == "error":
            errors.append(rest.strip())
    return started, ended, errors


def record(fetch_dir: Path, facts: dict) -> run_record.Fault | None:
    """run_record.Fault as the compose lab writes it; the recovery from k6's CSV (merged first, by the caller)."""
    planned = facts.get("fault")
    if not isinstance(planned, dict) or not planned:  # load.yml writes {} without FAULT
        return None
    started, ended, errors = read_times(fetch_dir / TIMES)
    host, what = str(facts.get("fault_host") or planned.get("group") or "?"), str(planned.get("what") or "")
    target = f"{host} -> {what}" if planned.get("kind") in ("db-network-cut", "db-lossy") else f"{host}: {what}"
    setting = _number(planned.get("setting"))
    fault = run_record.Fault(kind=str(planned.get("kind")), planned_at_s=float(planned.get("at") or 0),
                             planned_for_s=float(planned.get("for") or 0), target=target,
                             load_started=_iso(facts.get("start_at")), started=started, ended=ended,
                             errors=errors, db_cpus=setting if planned.get("kind") == "db-slow" else None,
                             loss_pct=setting if planned.get("kind") == "db-lossy" else None,
                             delay_ms=int(planned["delay_ms"]) if str(planned.get("delay_ms") or "").isdigit()
                             else None)
    left = [str(line) for line in facts.get("fault_left_broken") or [] if str(line).strip()]
    fault.recovery = faults.recovery(fetch_dir, fault, left)
    return fault
