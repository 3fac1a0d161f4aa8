"""How Ansible and ssh will really reach a host, read from its inventory variables.

The guard (churnlab.hosts.guard) counts a host as a lab host only when this
says how it is reached and nothing else could change it. It is an allowlist:
ALLOWED names every inventory variable that may shape a connection to a lab
host, each with the one form it may take. Any other `ansible_*` variable
(`ansible_connection=local`, `ansible_ssh_executable`, `ansible_ssh_args`,
`ansible_password`, `ansible_become_exe`, ...), or an allowed one in another
form (a HostName, ProxyCommand, ProxyJump, -J or -F in the ssh arguments, a
template), makes the host count as outside the lab: CONFIRM, no faults, no
incident without CONFIRM_REPRO.

The address is Ansible's own choice: `ansible_ssh_host` over `ansible_host`
over the inventory name (both the play context and the ssh plugin pick it so);
delegated tasks read the delegated host's variables, and every host a play may
delegate to is a host of the same inventory (the guard judges them all).
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from churnlab.core.paths import ROOT

# Ansible's order for the address: the first found wins.
ADDRESS_VARS = ("ansible_ssh_host", "ansible_host")
# Template expressions a lab value may hold, each a folder of this checkout: they are filled in
# before the value is read, as Ansible will fill them.
_PLACES = {"inventory_dir": None, "playbook_dir": ROOT / "playbooks"}
_PLACE = re.compile(r"\{\{\s*(" + "|".join(_PLACES) + r")\s*\}\}")
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_INTERPRETER = re.compile(r"/[A-Za-z0-9_./+-]+")

# ssh's own options (-o Name=value) a lab connection may use, lower-cased, each with the values
# it may take (None: a file or a number, read as such). Everything else, HostName, ProxyCommand,
# ProxyJump, LocalCommand, RemoteCommand, Include, Match, a forward..., is not allowed.
SSH_OPTIONS: dict[str, frozenset[str] | None] = {
    "stricthostkeychecking": frozenset({"yes"}),
    "userknownhostsfile": None,
    "identityfile": None,
    "identitiesonly": frozenset({"yes", "no"}),
    "batchmode": frozenset({"yes"}),
    "passwordauthentication": frozenset({"no"}),
    "pubkeyauthentication": frozenset({"yes"}),
    "loglevel": frozenset({"quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3"}),
    "compression": frozenset({"yes", "no"}),
    "connecttimeout": None,
    "serveraliveinterval": None,
    "serveralivecountmax": None,
}
# ssh flags a lab connection may use (no -F, -J, -W, -L, -R, -D, ...).
SSH_FLAGS = frozenset({"-q", "-C", "-4", "-6"})
_NUMERIC = frozenset({"connecttimeout", "serveraliveinterval", "serveralivecountmax"})


@dataclass(frozen=True)
class Connection:
    """Where Ansible connects, and every reason the host cannot count as a lab host (empty: none)."""

    address: str
    why: tuple[str, ...] = ()


def _fill(value: object, inventory_dir: Path) -> str | None:
    """The value with the allowed folders filled in; None when it holds any other template."""
    if not isinstance(value, str):
        return None
    places = {**_PLACES, "inventory_dir": inventory_dir}
    text = _PLACE.sub(lambda m: str(places[m.group(1)]), value)
    return None if _TEMPLATE.search(text) else text


def _port(value: object, _: Path) -> str | None:
    text = "" if isinstance(value, bool) else str(value).strip()
    return "" if re.fullmatch(r"[0-9]{1,5}", text) and 1 <= int(text) <= 65535 else None


def _user(value: object, _: Path) -> str | None:
    return "" if isinstance(value, str) and _USER.fullmatch(value) else None


def _ssh(value: object, _: Path) -> str | None:
    return "" if value == "ssh" else None


def _path(value: object, inventory_dir: Path) -> str | None:
    text = _fill(value, inventory_dir)
    return "" if text and text.strip() else None


def _interpreter(value: object, _: Path) -> str | None:
    return "" if isinstance(value, str) and _INTERPRETER.fullmatch(value) else None


def ssh_args_problem(text: str) -> str:
    """What in these ssh arguments is not allowed for a lab connection ('' when nothing)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        return f"cannot be read ({exc})"
    i = 0
    while i < len(words):
        word = words[i]
        if word in SSH_FLAGS:
            i += 1
            continue
        if word == "-o" and i + 1 < len(words):
            option, i = words[i + 1], i + 2
        elif word.startswith("-o") and len(word) > 2:
            option, i = word[2:], i + 1
        else:
            return f"{word!r} is not allowed"
        name, value = (re.split(r"\s*=\s*|\s+", option.strip(), maxsplit=1) + [""])[:2]
        allowed = SSH_OPTIONS.get(name.lower(), frozenset())
        if allowed is None:
            if not value or (name.lower() in _NUMERIC and not re.fullmatch(r"[0-9]{1,6}", value)):
                return f"-o {option!r} is not allowed"
        elif value.lower() not in allowed:
            return f"-o {option!r} is not allowed"
    return ""


def _ssh_args(value: object, inventory_dir: Path) -> str | None:
    text = _fill(value, inventory_dir)
    if text is None:
        return None
    problem = ssh_args_problem(text)
    return f": {problem}" if problem else ""


# Every inventory variable that may shape a connection to a lab host: name -> its check, which
# answers "" (allowed), None (not in the form allowed) or ": why" (not allowed, and why).
ALLOWED: dict[str, Callable[[object, Path], str | None]] = {
    "ansible_host": lambda value, _: "",            # judged as the address
    "ansible_ssh_host": lambda value, _: "",        # judged as the address (it wins over ansible_host)
    "ansible_port": _port,
    "ansible_ssh_port": _port,
    "ansible_user": _user,
    "ansible_ssh_user": _user,
    "ansible_connection": _ssh,
    "ansible_ssh_private_key_file": _path,
    "ansible_private_key_file": _path,
    "ansible_ssh_common_args": _ssh_args,
    "ansible_ssh_extra_args": _ssh_args,
    "ansible_python_interpreter": _interpreter,
}


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def effective(name: str, hostvars: dict, inventory_dir: Path) -> Connection:
    """The address Ansible will connect to, and why (if at all) the host is not provably a lab host."""
    given = [str(hostvars[var] if hostvars[var] is not None else "") for var in ADDRESS_VARS if var in hostvars]
    address = given[0] if given else name
    why: list[str] = []
    if len(set(given)) > 1:
        why.append(f"ansible_ssh_host {given[0]} differs from ansible_host {given[1]}")
    for var in sorted(k for k in hostvars if k.startswith("ansible_")):
        check = ALLOWED.get(var)
        if check is None:
            why.append(f"{var} is set")
            continue
        verdict = check(hostvars[var], inventory_dir)
        if verdict is None:
            # values of the connection type, port and user are safe to show; others may be paths or secrets
            shown = f"={_shown(hostvars[var])}" if var in ("ansible_connection", "ansible_port", "ansible_ssh_port",
                                                            "ansible_user", "ansible_ssh_user") else ""
            why.append(f"{var}{shown} is not a lab connection")
        elif verdict:
            why.append(f"{var}{verdict}")
    return Connection(address, tuple(why))
