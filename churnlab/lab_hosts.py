"""The Ansible lab hosts' addresses, read from their one source: inventories/lab/hosts.

ansible/lab-hosts/compose.yml takes them as environment variables
(LAB_HOST_<NAME>, LAB_HOSTS_SUBNET) set from here, and the tests read them
through `addresses()` too.

    python -m churnlab.lab_hosts   prints them as shell `export` lines
"""
from __future__ import annotations

import ipaddress
import shlex
import sys
from pathlib import Path

from churnlab.errors import LabError
from churnlab.paths import LAB_INVENTORY


def addresses(inventory: Path = LAB_INVENTORY) -> dict[str, str]:
    """Host name -> ansible_host, in the order of the inventory file."""
    hosts_file = inventory / "hosts"
    try:
        lines = hosts_file.read_text().splitlines()
    except OSError as exc:
        raise LabError(f"cannot read the lab inventory {hosts_file}: {exc.strerror}") from exc
    found: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("["):
            continue
        name, *pairs = line.split()
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key == "ansible_host":
                found[name] = str(ipaddress.IPv4Address(value))
    if not found:
        raise LabError(f"{hosts_file} names no host with ansible_host=")
    return found


def subnet(inventory: Path = LAB_INVENTORY) -> str:
    """The /24 every lab host is on (the lab-hosts network)."""
    nets = {ipaddress.IPv4Network(f"{ip}/24", strict=False) for ip in addresses(inventory).values()}
    if len(nets) != 1:
        raise LabError(f"the lab hosts must share one /24, got {', '.join(map(str, sorted(nets)))}")
    return str(nets.pop())


def compose_env(inventory: Path = LAB_INVENTORY) -> dict[str, str]:
    """The variables ansible/lab-hosts/compose.yml interpolates."""
    env = {f"LAB_HOST_{name.upper()}": ip for name, ip in addresses(inventory).items()}
    env["LAB_HOSTS_SUBNET"] = subnet(inventory)
    return env


def main() -> None:
    try:
        for key, value in compose_env().items():
            print(f"export {key}={shlex.quote(value)}")
    except (LabError, ValueError) as exc:
        print(f"churnlab: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
