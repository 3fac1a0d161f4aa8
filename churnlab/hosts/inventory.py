"""Ansible on hosts, through one front door: provision, load and investigate.

Every command validates its input and passes the guard (churnlab.hosts.guard)
before ansible-playbook starts, so a refusal never sends a packet. The
inventory is copied once (churnlab.hosts.snapshot); the guard reads that
copy and ansible-playbook runs against it, so the run uses exactly what the
guard checked. The variant and the kernel profile come from the inventory's
own group_vars unless the user names them: production never gets the lab's
defaults.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from churnlab import faults
from churnlab.core import catalog
from churnlab.core import secrets as lab_secrets
from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT
from churnlab.hosts import faults as hostfault
from churnlab.hosts import guard as hosts_guard
from churnlab.hosts import investigate as investigation
from churnlab.hosts import lab as lab_hosts
from churnlab.hosts import snapshot

PLAYBOOKS = ROOT / "playbooks"


class AnsibleFailed(LabError):
    """ansible-playbook ran and failed: its own output says why; keep its exit code."""

    def __init__(self, playbook: str, code: int):
        super().__init__(f"ansible-playbook {playbook} failed (exit {code}); see its output above")
        self.exit_code = code


@dataclass(frozen=True)
class Target:
    """A checked inventory: as named (`inventory`), its private copy the guard read and the playbook runs
    against (`copy`), the extra Ansible arguments that go with it, and the guard's decision."""

    inventory: Path
    copy: Path
    extra: list[str]
    decision: hosts_guard.Decision

    @property
    def label(self) -> str:
        return hosts_guard.shown_path(self.inventory)

    @property
    def dry(self) -> bool:
        return _dry(self.extra)


def _dry(extra: list[str]) -> bool:
    """A check-mode run: it connects and reports, and changes nothing."""
    return bool(hosts_guard.select(extra, hosts_guard.CHECK_OPTIONS))


@contextmanager
def target(inventory: str, ansible_args: str, *, consent: hosts_guard.Consent = hosts_guard.NO_CONSENT,
           check: bool = False, variant: str | None = None, profile: str | None = None,
           fault: str | None = None, load_vus: int | None = None, limit: tuple[str, ...] = (),
           group: str | None = None) -> Iterator[Target]:
    """The inventory copied once and checked (one line and exit 2 when refused); the copy is removed after."""
    extra = hosts_guard.parse_extra_args(ansible_args) + list(limit)
    if check:
        extra = [a for a in extra if a not in ("--check", "-C", "--diff", "-D")] + ["--check", "--diff"]
    path = hosts_guard.inventory_dir(inventory)
    copy = snapshot.take(path)
    try:
        decision = hosts_guard.check(path, copy, extra, consent=consent, named_variant=variant,
                                     named_profile=profile, dry=_dry(extra), fault=fault, load_vus=load_vus,
                                     group=group)
        yield Target(path, copy, extra, decision)
    finally:
        snapshot.remove(copy)


def _own_setting(t: Target, key: str, what: str) -> str:
    """The inventory's own value for the app hosts (group_vars), the same on all of them."""
    values = {h.hostvars.get(key) for h in t.decision.hosts if "app" in h.groups}
    values.discard(None)
    if not values:
        raise LabError(f"{t.label} sets no {key} for its app hosts: name {what}=<name> or set {key} in "
                       f"{t.label}/group_vars/app/")
    if len(values) > 1:
        raise LabError(f"{t.label} sets {key} differently per app host ({', '.join(sorted(map(str, values)))}); "
                       f"name {what}=<name> to choose one")
    return str(values.pop())


def _describe(t: Target) -> str:
    hosts = t.decision.hosts
    shown = ", ".join(f"{h.name} {h.address}" for h in hosts[:8]) + (" ..." if len(hosts) > 8 else "")
    return f"{t.label}: {len(hosts)} host{'s' if len(hosts) != 1 else ''} ({shown})"


def _playbook(t: Target, name: str, extra_vars: dict) -> None:
    argv = [str(hosts_guard.VENV_BIN / "ansible-playbook"), "-i", str(t.copy), str(PLAYBOOKS / name)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    argv += t.extra
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=hosts_guard.ansible_env(lab=t.decision.lab))
    finally:
        if t.decision.lab:
            lab_secrets.tighten(lab_hosts.HOSTS_SECRETS)
    if proc.returncode != 0:
        raise AnsibleFailed(name, proc.returncode)


def provision(inventory: str, variant: str | None, profile: str | None, *, check: bool,
              consent: hosts_guard.Consent = hosts_guard.NO_CONSENT, ansible_args: str = "") -> None:
    variant = catalog.check_variant(variant) if variant else None
    profile = catalog.check_profile(profile) if profile else None
    with target(inventory, ansible_args, consent=consent, check=check, variant=variant, profile=profile) as t:
        chosen_variant = variant or catalog.check_variant(_own_setting(t, "churnlab_variant", "VARIANT"))
        chosen_profile = profile or catalog.check_profile(_own_setting(t, "sysctl_profile", "PROFILE"))
        origin = lambda named: "named" if named else "the inventory's own"  # noqa: E731
        console.print(f"{'dry run (--check --diff) of' if t.dry else 'provisioning'} {_describe(t)}: "
                      f"VARIANT={chosen_variant} ({origin(variant)}), PROFILE={chosen_profile} ({origin(profile)})")
        incident = chosen_variant in catalog.incident("variant") or chosen_profile in catalog.incident("profile")
        if t.decision.outside and not t.dry and incident:
            console.print("[yellow]warning:[/] " + hosts_guard.incident_effect(chosen_variant, chosen_profile))
        extra_vars = {}
        if variant:
            extra_vars["churnlab_variant"] = variant
        if profile:
            extra_vars["sysctl_profile"] = profile
        _playbook(t, "site.yml", extra_vars)


def load(inventory: str, scenario: str, vus: int, iterations: int, keepalive: bool, *,
         consent: hosts_guard.Consent = hosts_guard.NO_CONSENT, ansible_args: str = "",
         fault: faults.Plan | None = None) -> None:
    # a fault is refused outside the lab, and load_target / load_fetch_dir checked, before anything connects
    with target(inventory, ansible_args, consent=consent, fault=fault.kind if fault else None, load_vus=vus) as t:
        fault_vars = hostfault.prepare(t, fault) if fault else {}  # checked (one line) before the play starts
        console.print(f"load from the load generator: {_describe(t)}: {scenario}, {vus} VUs"
                      + (f" x {'up to ' if fault else ''}{iterations} requests" if scenario == "ab" else "")
                      + (", keep-alive" if keepalive else ", no keep-alive")
                      + (f", FAULT={fault.kind}{f' ({faults.describe(fault)})' if faults.describe(fault) else ''}"
                         f" at {fault.at} s for {fault.duration} s, then {fault.tail} s"
                         if fault else ""))
        try:
            _playbook(t, "load.yml", {"load_scenario": scenario, "load_vus": vus, "load_iterations": iterations,
                                      "load_keepalive": keepalive, **fault_vars})
        except (KeyboardInterrupt, AnsibleFailed):
            if fault_vars:  # stopped or failed: its always section may not have run (an unreachable loadgen, Ctrl-C)
                hostfault.undo_again(lambda: _playbook(t, hostfault.UNDO_PLAYBOOK, fault_vars))
            raise


def investigate(inventory: str, seconds: int, limit: str = "", *,
                consent: hosts_guard.Consent = hosts_guard.NO_CONSENT, ansible_args: str = "") -> Path:
    """The read-only probe on each app host (within LIMIT), its snapshots in results/investigate-<id>/, and each
    host's verdict (churnlab.hosts.investigate). `seconds` is checked by the caller (DIAG_SECONDS)."""
    limited = investigation.check_limit(limit)
    if limited and hosts_guard.select(hosts_guard.parse_extra_args(ansible_args), hosts_guard.LIMIT_OPTIONS):
        raise LabError("LIMIT and a --limit in ANSIBLE_ARGS: name the hosts once, with LIMIT")
    with target(inventory, ansible_args, consent=consent, limit=tuple(limited), group="app") as t:
        apps = [h.name for h in t.decision.hosts if "app" in h.groups and h.limited]
        probe = investigation.probe_file()
        folder = investigation.new_folder()
        console.print(f"read-only investigation of {', '.join(apps)} ({_describe(t)}; {seconds} s of samples) "
                      f"into {hosts_guard.shown_path(folder)}/")
        try:
            _playbook(t, investigation.PLAYBOOK, {"investigate_probe": str(probe), "investigate_seconds": seconds,
                                               "investigate_fetch_dir": str(folder)})
        finally:
            investigation.show_verdicts(folder, apps)
        return folder


def sampler(inventory: str, limit: str = "", *, remove: bool, check: bool,
            consent: hosts_guard.Consent = hosts_guard.NO_CONSENT, ansible_args: str = "") -> None:
    """The socket sampler (the probe's socket reader) as a systemd service on each app host (within LIMIT),
    writing node_exporter's textfile; `remove` takes away what its local fact names (playbooks/sampler.yml)."""
    limited = investigation.check_limit(limit)
    if limited and hosts_guard.select(hosts_guard.parse_extra_args(ansible_args), hosts_guard.LIMIT_OPTIONS):
        raise LabError("LIMIT and a --limit in ANSIBLE_ARGS: name the hosts once, with LIMIT")
    with target(inventory, ansible_args, consent=consent, check=check, limit=tuple(limited), group="app") as t:
        apps = [h.name for h in t.decision.hosts if "app" in h.groups and h.limited]
        doing = "removing the socket sampler from" if remove else "installing the socket sampler on"
        console.print(f"{'dry run (--check --diff): ' if t.dry else ''}{doing} {', '.join(apps)} ({_describe(t)})")
        _playbook(t, "sampler.yml", {"sampler_state": "absent" if remove else "present"})


def demo(inventory: str = "inventories/lab-single", settle_s: int = 65) -> None:
    """The incident as reported, on lab hosts: app and Postgres on one host.
    Hosts up; the inventory's own direct + repro and the ab load; gthread and
    the same load; hosts down whatever happens."""
    import time

    lab_hosts.up()
    try:
        provision(inventory, None, None, check=False)
        load(inventory, "ab", 500, 10000, False)
        with console.status(f"waiting {settle_s} s for the direct run's TIME_WAIT ports to come back"):
            time.sleep(settle_s)
        provision(inventory, "gthread", None, check=False)
        load(inventory, "ab", 500, 10000, False)
    finally:
        lab_hosts.down()
