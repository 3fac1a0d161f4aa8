"""What an Ansible run may touch, decided before anything connects.

The guard copies the inventory once (churnlab.hosts.snapshot: static
inventories only) and reads the copy the way Ansible will (ansible-inventory
with the same limit and vault options); the playbook then runs against that
same copy. Each host's address and every override of how it is reached come
from churnlab.hosts.connection (an allowlist). Before a single connection
attempt it refuses, with one line:
- extra Ansible arguments outside a short allowlist (an extra -i or -e could
  point the run somewhere the guard did not look);
- any host outside the lab network, or reached in a way the allowlist does not
  know, without a confirmation given on this command's own command line
  (CONFIRM=yes, or CONFIRM=<the inventory's name>; one exported in the shell
  confirms nothing);
- for such hosts: another tree's files (CHURNLAB_ROOT, CHURNLAB_PRESETS), an
  INVENTORY inherited from the environment unless the confirmation names it,
  the incident's settings or the incident's load without CONFIRM_REPRO, and
  any fault at all;
- a load whose load_target is not a host of the inventory, or whose
  load_fetch_dir is not under results/;
- lab hosts that are not up (their address could be a real machine on
  another network).
"""
from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.core.paths import OWN_CHECKOUT, PRESETS_FILE, RESULTS_DIR, ROOT
from churnlab.hosts import connection
from churnlab.hosts import lab as lab_hosts
from churnlab.hosts.lab import LAB_NETWORK

INVENTORIES_DIR = ROOT / "inventories"
# This checkout's own Ansible (not another tree's, whatever CHURNLAB_ROOT says).
VENV_BIN = (OWN_CHECKOUT or ROOT) / ".venv" / "bin"

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
# ssh to the lab hosts reads no ssh_config (-F /dev/null): the operator's ~/.ssh/config could send a
# lab address somewhere else. Ansible's own defaults otherwise.
LAB_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s -F /dev/null"
# ssh from the system's own directories: a PATH of the caller's could put another `ssh` first.
SYSTEM_SSH = shutil.which("ssh", path="/usr/bin:/bin")
# The incident's load: ab -c 500 (make provision-load's default). As much or more on app hosts outside
# the lab needs CONFIRM_REPRO, as the incident's settings do.
INCIDENT_LOAD_VUS = 500


def mitogen_strategies() -> Path | None:
    """Mitogen's strategy plugins (the mitogen package, beside Ansible in the venv), or None without it."""
    spec = importlib.util.find_spec("ansible_mitogen")
    folder = Path(spec.origin).parent / "plugins" / "strategy" if spec and spec.origin else None
    return folder if folder and (folder / "mitogen_linear.py").is_file() else None


def ansible_env(lab: bool = False) -> dict[str, str]:
    """The environment of ansible-inventory and ansible-playbook. Hosts outside the lab never get another
    presets file (the guard refuses one; this drops it too).
    The lab's own hosts are converged with Mitogen's strategy: the same ssh, arguments, host keys and
    become, but one Python per host kept open for the run instead of one per task (a converge that
    changes nothing: 31 s instead of 41 on 2 cores). Hosts outside the lab get Ansible's own strategy:
    nothing of a third party's runs on an owner's machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") or k in KEPT_ANSIBLE_ENV}
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    if SYSTEM_SSH:  # the system's ssh, not the first one on the caller's PATH
        env["ANSIBLE_SSH_EXECUTABLE"] = SYSTEM_SSH
    if lab:
        env["ANSIBLE_SSH_ARGS"] = LAB_SSH_ARGS
        strategies = mitogen_strategies()
        if strategies:
            env.update({"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"})
    else:
        env.pop("CHURNLAB_PRESETS", None)
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
    """A host of the inventory: the address Ansible will connect to (churnlab.hosts.connection), and every
    reason it cannot count as a lab host whatever its address (an override of how it is reached)."""

    name: str
    address: str
    groups: tuple[str, ...]
    hostvars: dict = field(default_factory=dict, compare=False, hash=False)
    why: tuple[str, ...] = ()
    limited: bool = field(default=True, compare=False)  # within the run's --limit (every host is judged)

    @property
    def in_lab(self) -> bool:
        if self.why:
            return False
        try:
            return ipaddress.ip_address(self.address) in LAB_NETWORK
        except ValueError:  # a name or a template: not provably the lab
            return False

    @property
    def shown(self) -> str:
        return f"{self.name} ({'; '.join((self.address, *self.why))})"


@dataclass(frozen=True)
class Word:
    """CONFIRM or CONFIRM_REPRO as given: its value, and whether this command's own command line named it
    (make's or the CLI's). A value inherited from the shell's environment confirms nothing; only the word
    `yes` or the inventory's own name does."""

    name: str
    value: str = ""
    here: bool = False

    def names(self, inventory: Path) -> bool:
        """It names the inventory itself (CONFIRM=production or CONFIRM=inventories/production)."""
        return self.here and self.value.strip().rstrip("/") in (inventory.name, shown_path(inventory))

    def confirms(self, inventory: Path) -> bool:
        return (self.here and self.value.strip() == "yes") or self.names(inventory)

    def how(self, inventory: Path) -> str:
        """How to confirm, and why the value given (if any) did not."""
        text = f"Rerun with {self.name}=yes (or {self.name}={inventory.name}) on the command line"
        value = self.value.strip()
        if value and not self.here:
            text += f" ({self.name}={value[:40]!r} came from the environment, which confirms nothing)"
        elif value:
            text += f" ({self.name}={value[:40]!r} is not a confirmation)"
        return text


@dataclass(frozen=True)
class Consent:
    """What the user confirmed on this command line, and whether INVENTORY was named there too."""

    confirm: Word = Word("CONFIRM")
    repro: Word = Word("CONFIRM_REPRO")
    inventory_here: bool = True


NO_CONSENT = Consent()


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


def resolve_hosts(copy: Path, extra: list[str], label: str = "") -> list[Host]:
    """Every host the run may reach, from the inventory's private copy (churnlab.hosts.snapshot): the whole
    inventory (plays delegate to the db and app hosts whatever the limit), and an error if the limit matches
    none. Each host's address and overrides are the ones Ansible will use (churnlab.hosts.connection)."""
    base = [str(VENV_BIN / "ansible-inventory"), "-i", str(copy), "--list"]
    vault, limit = select(extra, VAULT_OPTIONS), select(extra, LIMIT_OPTIONS)
    every = _list(base + vault)
    limited = _list(base + vault + limit) if limit else every
    if not _host_names(limited):
        raise LabError(f"the limit matches no host of {label or shown_path(copy)}")
    hostvars = every.get("_meta", {}).get("hostvars", {})
    groups: dict[str, list[str]] = {}
    for group, body in every.items():
        if group != "_meta":
            for host in body.get("hosts", []):
                groups.setdefault(host, []).append(group)
    hosts, within = [], _host_names(limited)
    for name in sorted(_host_names(every)):
        own = hostvars.get(name, {})
        how = connection.effective(name, own, copy)
        hosts.append(Host(name, how.address, tuple(sorted(groups.get(name, []))), own, how.why, name in within))
    return hosts


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
    # Listed with this checkout's own ansible.cfg, whatever CHURNLAB_ROOT names: another tree's could enable
    # an inventory or vars plugin that runs while listing, before the guard can refuse that tree.
    own = OWN_CHECKOUT or ROOT
    env = {**ansible_env(), "ANSIBLE_CONFIG": str(own / "ansible.cfg")}
    try:
        proc = subprocess.run(argv, cwd=own, env=env, capture_output=True, text=True, timeout=120,
                              stdin=None if asks else subprocess.DEVNULL)
    except OSError as exc:
        raise LabError(f"ansible-inventory cannot run ({exc.strerror}: {argv[0]}): run `make venv`") from None
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


def _listed(hosts: list[Host]) -> str:
    return ", ".join(h.shown for h in hosts[:6]) + (" ..." if len(hosts) > 6 else "")


def check(source: Path, copy: Path, extra: list[str], *, consent: Consent = NO_CONSENT,
          named_variant: str | None = None, named_profile: str | None = None, dry: bool = False,
          fault: str | None = None, load_vus: int | None = None, group: str | None = None) -> Decision:
    """Refuse, with one line, anything the user did not ask for. Nothing connects before this passes.
    `source` is the inventory as named (what a confirmation names), `copy` its private copy (what is listed,
    and what the playbook will run against); `load_vus` for a load: its targets and its level are checked;
    `group`: the play runs on that group, so the limit must leave one of its hosts."""
    label = shown_path(source)
    hosts = resolve_hosts(copy, extra, label)
    if group and not any(group in h.groups and h.limited for h in hosts):
        limit = select(extra, LIMIT_OPTIONS)
        raise LabError(f"{'the limit ' + repr(limit[-1]) + ' leaves' if limit else label + ' has'} no host of the "
                       f"{group} group of {label}: the play runs on the {group} hosts")
    if load_vus is not None:
        check_load_vars(hosts, label)
    outside = [h for h in hosts if not h.in_lab]
    if outside and fault:  # faults mid-load (churnlab/faults/plan.py): lab hosts only
        raise LabError(f"FAULT={fault} runs only on the lab hosts ({LAB_NETWORK}); {label} reaches "
                       f"hosts outside it: {_listed(outside)}. No fault is ever injected there, with CONFIRM=yes "
                       "or not.")
    if not outside:
        running = running_lab_hosts()
        down = [h for h in hosts if h.address not in running]
        if down:
            raise LabError(f"the lab hosts are not up ({', '.join(f'{h.name} {h.address}' for h in down)}): "
                           "run `make hosts-up` first. Nothing was contacted.")
        return Decision(hosts, True, [])
    own_files_only(label)
    if not consent.confirm.confirms(source):
        raise LabError(f"{label} reaches hosts outside the lab network {LAB_NETWORK}: {_listed(outside)}. "
                       f"{consent.confirm.how(source)} to go ahead (run CHECK=1 first for a dry run).")
    if not consent.inventory_here and not consent.confirm.names(source):
        raise LabError(f"INVENTORY={label} came from the environment, not from this command line, and reaches "
                       f"hosts outside the lab network: name it on the command line, or confirm it by name "
                       f"(CONFIRM={source.name}).")
    apps = [h for h in outside if "app" in h.groups] or outside
    repro = [f"{name}={value}" for name, value, kind in (("PROFILE", named_profile, "profile"),
                                                          ("VARIANT", named_variant, "variant"))
             if value in catalog.incident(kind)]
    if repro and not dry and not consent.repro.confirms(source):  # a dry run changes nothing
        raise LabError(f"{' and '.join(repro)} reproduces the incident on {_listed(apps)}: "
                       f"{incident_effect(named_variant, named_profile)}. "
                       f"{consent.repro.how(source)} as well if that is what you want.")
    loaded = [h for h in outside if "app" in h.groups]
    if load_vus is not None and load_vus >= INCIDENT_LOAD_VUS and loaded and not consent.repro.confirms(source):
        raise LabError(f"VUS={load_vus} is the incident's load (ab -c {INCIDENT_LOAD_VUS} and more) on "
                       f"{_listed(loaded)}: an app host that runs the incident's variant or profile fails under it "
                       f"as the incident's did. {consent.repro.how(source)} as well, or a VUS below "
                       f"{INCIDENT_LOAD_VUS}.")
    return Decision(hosts, False, outside)


def own_files_only(label: str) -> None:
    """Hosts outside the lab are run with this checkout's own ansible.cfg, inventories and presets only:
    no environment variable may point the guard at another tree's (one line where one would)."""
    named = os.environ.get("CHURNLAB_ROOT", "").strip()
    if named and ROOT != OWN_CHECKOUT:
        raise LabError(f"CHURNLAB_ROOT={named} is not this checkout ({OWN_CHECKOUT or 'an installed copy has none'})"
                       f" and {label} reaches hosts outside the lab: those are run only with the checkout's own "
                       "ansible.cfg, inventories and config/presets.yml. Unset CHURNLAB_ROOT, or run make in that "
                       "checkout.")
    chosen = catalog.presets_file()
    if chosen.resolve() != PRESETS_FILE.resolve():
        raise LabError(f"the presets file is {chosen} (CHURNLAB_PRESETS), not this checkout's config/presets.yml, "
                       f"and {label} reaches hosts outside the lab: the incident's flags for those come only from "
                       "config/presets.yml. Unset CHURNLAB_PRESETS.")


def check_load_vars(hosts: list[Host], label: str) -> None:
    """Where a load sends and writes: load_target must be an address of a host of this inventory (then judged
    with that host), load_fetch_dir a folder under results/. Both are read from the inventory as written."""
    addresses = {_normal(h.address) for h in hosts} - {None}
    for h in hosts:
        if "load_target" in h.hostvars:
            value = h.hostvars["load_target"]
            if _target_address(value) not in addresses:
                raise LabError(f"load_target={_short(value)} ({h.name}) is not an address of a host of {label}: "
                               "k6 loads only this inventory's own hosts or their front, written as "
                               "http(s)://<address>[:port]")
        if "load_fetch_dir" in h.hostvars:
            value = h.hostvars["load_fetch_dir"]
            if not _under_results(value):
                raise LabError(f"load_fetch_dir={_short(value)} ({h.name}) is not a folder under {RESULTS_DIR}: "
                               "a load writes only there (an absolute path, no template)")


def _short(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _normal(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _target_address(value: object) -> str | None:
    """The address of http(s)://<address>[:port][/], written out (no template, no name); else None."""
    if not isinstance(value, str) or "{" in value or "%" in value:
        return None
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.username is not None or parts.password is not None \
            or parts.query or parts.fragment or parts.path not in ("", "/") or not parts.hostname:
        return None
    return _normal(parts.hostname)


def _under_results(value: object) -> bool:
    if not isinstance(value, str) or "{" in value or not value.startswith("/"):
        return False
    path, results = Path(value).resolve(), RESULTS_DIR.resolve()
    return path != results and path.is_relative_to(results)


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
