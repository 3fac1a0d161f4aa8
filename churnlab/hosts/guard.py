"""What an Ansible run may touch, decided before anything connects.

The guard reads the effective host list the way Ansible will (ansible-inventory
with the same inventory, limit and vault options), and refuses, before a
single connection attempt:
- extra Ansible arguments outside a short allowlist (an extra -i or -e could
  point the run somewhere the guard did not look);
- any host outside the lab network without CONFIRM=yes;
- the incident's settings (PROFILE=repro, or a variant that reproduces the
  incident) named for hosts outside the lab network without CONFIRM_REPRO=yes;
- lab hosts that are not up (their address could be a real machine on
  another network).
"""
from __future__ import annotations

import ipaddress
import json
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT
from churnlab.hosts import lab as lab_hosts
from churnlab.hosts.lab import LAB_NETWORK

INVENTORIES_DIR = ROOT / "inventories"
VENV_BIN = ROOT / ".venv" / "bin"

# ANSIBLE_ARGS a user may add, each with whether it takes a value.
ALLOWED_ARGS: dict[str, bool] = {
    "--check": False, "-C": False, "--diff": False, "-D": False,
    "--limit": True, "-l": True, "--tags": True, "-t": True, "--skip-tags": True,
    "-v": False, "-vv": False, "-vvv": False, "-vvvv": False, "--verbose": False,
    "--ask-vault-pass": False, "--ask-vault-password": False, "-J": False,
    "--vault-password-file": True, "--vault-pass-file": True, "--vault-id": True,
}
ALLOWED_TEXT = "--check --diff --limit --tags --skip-tags -v..-vvvv --ask-vault-pass --vault-password-file --vault-id"
# Options that change which hosts exist or how they are reached: passed to
# ansible-inventory too, so the guard sees what the playbook will see.
LIMIT_OPTIONS = ("--limit", "-l")
ASK_VAULT_OPTIONS = ("--ask-vault-pass", "--ask-vault-password", "-J")
VAULT_OPTIONS = (*ASK_VAULT_OPTIONS, "--vault-password-file", "--vault-pass-file", "--vault-id")
CHECK_OPTIONS = ("--check", "-C")
# The caller's ANSIBLE_* variables are dropped except these: the repository's
# ansible.cfg decides everything else, so nothing exported in a shell can add
# an inventory or loosen host key checking behind the guard's back.
KEPT_ANSIBLE_ENV = ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST")


def ansible_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") or k in KEPT_ANSIBLE_ENV}
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    return env


def parse_extra_args(text: str) -> list[str]:
    """ANSIBLE_ARGS split like a shell would, every option checked against the allowlist."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise LabError(f"ANSIBLE_ARGS cannot be parsed ({exc}); allowed: {ALLOWED_TEXT}") from None
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name not in ALLOWED_ARGS:
            raise LabError(f"ANSIBLE_ARGS: {word!r} is not allowed; allowed: {ALLOWED_TEXT}")
        if ALLOWED_ARGS[name]:
            if not eq:
                if i + 1 >= len(words) or words[i + 1].startswith("-"):
                    raise LabError(f"ANSIBLE_ARGS: {name} needs a value")
                value = words[i + 1]
                i += 1
            out += [name, value]
        elif eq:
            raise LabError(f"ANSIBLE_ARGS: {name} takes no value")
        else:
            out.append(name)
        i += 1
    return out


def inventory_dir(name: str) -> Path:
    """An inventory folder under inventories/ (by path or by name)."""
    if not name:
        raise LabError("INVENTORY is empty; use INVENTORY=inventories/lab")
    available = sorted(p.parent.name for p in INVENTORIES_DIR.glob("*/hosts"))
    candidate = Path(name)
    path = (ROOT / candidate).resolve() if not candidate.is_absolute() else candidate.resolve()
    if not (path / "hosts").is_file() and (INVENTORIES_DIR / name / "hosts").is_file():
        path = (INVENTORIES_DIR / name).resolve()
    if not (path / "hosts").is_file():
        raise LabError(f"inventory {name!r} not found (expected {name}/hosts); "
                       f"available: {', '.join('inventories/' + a for a in available)}")
    return path


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    groups: tuple[str, ...]
    hostvars: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def in_lab(self) -> bool:
        try:
            return ipaddress.ip_address(self.address) in LAB_NETWORK
        except ValueError:  # a name or a template: not provably the lab
            return False


def select(extra: list[str], names: tuple[str, ...]) -> list[str]:
    """The options of parse_extra_args' output named in `names`, each with its value."""
    out: list[str] = []
    i = 0
    while i < len(extra):
        width = 2 if ALLOWED_ARGS[extra[i]] else 1
        if extra[i] in names:
            out += extra[i:i + width]
        i += width
    return out


def resolve_hosts(inventory: Path, extra: list[str]) -> list[Host]:
    """Every host the run may reach: the whole inventory (plays delegate to the
    db and app hosts whatever the limit), and an error if the limit matches none."""
    base = [str(VENV_BIN / "ansible-inventory"), "-i", str(inventory), "--list"]
    vault, limit = select(extra, VAULT_OPTIONS), select(extra, LIMIT_OPTIONS)
    every = _list(base + vault)
    limited = _list(base + vault + limit) if limit else every
    if not _host_names(limited):
        raise LabError(f"the limit matches no host of {shown_path(inventory)}")
    hostvars = every.get("_meta", {}).get("hostvars", {})
    groups: dict[str, list[str]] = {}
    for group, body in every.items():
        if group != "_meta":
            for host in body.get("hosts", []):
                groups.setdefault(host, []).append(group)
    return [Host(name, str(hostvars.get(name, {}).get("ansible_host", name)), tuple(sorted(groups.get(name, []))),
                 hostvars.get(name, {}))
            for name in sorted(_host_names(every))]


def _host_names(listing: dict) -> set[str]:
    names = set(listing.get("_meta", {}).get("hostvars", {}))
    for group, body in listing.items():
        if group != "_meta":
            names.update(body.get("hosts", []))
    return names


def _list(argv: list[str]) -> dict:
    # stdin only where a vault password is asked for; otherwise none, so a
    # non-blocking stdin shared with another program cannot stop Ansible.
    asks = any(a in ASK_VAULT_OPTIONS for a in argv)
    proc = subprocess.run(argv, cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=120,
                          stdin=None if asks else subprocess.DEVNULL)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"ansible-inventory could not read the inventory: {last}")
    return json.loads(proc.stdout)


def running_lab_hosts() -> dict[str, str]:
    """Address -> container name of every running lab host (none without Docker)."""
    return {ip: name for name, ip in lab_hosts.containers(running_only=True).items() if ip}


@dataclass
class Decision:
    hosts: list[Host]
    lab: bool
    outside: list[Host]


# Faults mid-load (churnlab/faults/plan.py)
def refuse_fault_outside_lab(inventory: Path, extra: list[str], kind: str) -> None:
    """A fault (FAULT=...) is for lab hosts only: any host of the inventory outside the lab network refuses it,
    whatever CONFIRM says, before anything connects."""
    outside = [h for h in resolve_hosts(inventory, extra) if not h.in_lab]
    if outside:
        shown = ", ".join(f"{h.name} ({h.address})" for h in outside[:6]) + (" ..." if len(outside) > 6 else "")
        raise LabError(f"FAULT={kind} runs only on the lab hosts ({LAB_NETWORK}); {shown_path(inventory)} reaches "
                       f"hosts outside it: {shown}. No fault is ever injected there, with CONFIRM=yes or not.")


def check(inventory: Path, extra: list[str], *, confirm: bool, confirm_repro: bool,
          named_variant: str | None, named_profile: str | None) -> Decision:
    """Refuse, with one line, anything the user did not ask for. Nothing connects before this passes."""
    hosts = resolve_hosts(inventory, extra)
    outside = [h for h in hosts if not h.in_lab]
    shown = ", ".join(f"{h.name} ({h.address})" for h in outside[:6]) + (" ..." if len(outside) > 6 else "")
    if outside and not confirm:
        raise LabError(f"{shown_path(inventory)} reaches hosts outside the lab network {LAB_NETWORK}: {shown}. "
                       "Rerun with CONFIRM=yes to go ahead (run CHECK=1 first for a dry run).")
    if outside:
        repro = [f"PROFILE={named_profile}"] if named_profile in catalog.incident("profile") else []
        repro += [f"VARIANT={named_variant}"] if named_variant in catalog.incident("variant") else []
        if repro and not confirm_repro:
            apps = [h for h in outside if "app" in h.groups] or outside
            raise LabError(f"{' and '.join(repro)} reproduces the incident on "
                           f"{', '.join(f'{h.name} ({h.address})' for h in apps)}: "
                           f"{incident_effect(named_variant, named_profile)}. "
                           "Rerun with CONFIRM_REPRO=yes as well if that is what you want.")
    else:
        running = running_lab_hosts()
        down = [h for h in hosts if h.address not in running]
        if down:
            raise LabError(f"the lab hosts are not up ({', '.join(f'{h.name} {h.address}' for h in down)}): "
                           "run `make hosts-up` first. Nothing was contacted.")
    return Decision(hosts, not outside, outside)


def incident_effect(variant: str | None, profile: str | None) -> str:
    """What the incident's settings (presets marked `incident: true`) do to an app host."""
    parts = []
    if profile in catalog.incident("profile"):
        parts.append("the app hosts get 1,000 ephemeral ports and no TIME_WAIT reuse")
    if variant in catalog.incident("variant"):
        parts.append(f"the app runs the {variant} variant, which opens DB connections per request")
    return "; ".join(parts) + ", so under load they fail with 'Cannot assign requested address'"


def shown_path(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
