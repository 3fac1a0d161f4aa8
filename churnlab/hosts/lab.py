"""The Ansible lab hosts: Debian containers with systemd and sshd on their own
network (ansible/lab-hosts/compose.yml, project churnlab-hosts).

`up` generates the lab's SSH key, starts the hosts, pins their SSH host keys
(read through Docker, not over the network) into a known_hosts file the lab
inventory uses with StrictHostKeyChecking=yes, and waits until every host's
systemd is running. `down` leaves no container or network behind.

The hosts' addresses have one source, inventories/lab/hosts: the compose
file takes them as LAB_HOST_<NAME> and LAB_HOSTS_SUBNET from `compose_env()`,
the tests through `addresses()`. They must lie in the lab network, the one
range the guard (churnlab.hosts.guard) lets Ansible reach without CONFIRM.

That network has no route out (compose `internal`): the lab hosts reach the
package mirrors through lab-proxy only (PROXY, the network's last address;
ansible/lab-hosts/lab-proxy.conf), which refuses every other name and every
address. lab-proxy is not a lab host: `containers()` leaves it out unless
asked, and no inventory host may take its address.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import time
from pathlib import Path

from churnlab.compose.stack import DEFAULT_BASE_IMAGE, image_exists, require_docker
from churnlab.core import secrets as lab_secrets
from churnlab.core.console import console, run_logged
from churnlab.core.errors import LabError
from churnlab.core.paths import BASE_IMAGE_SCRIPT, LAB_INVENTORY, ROOT, SECRETS_DIR, STATE_DIR

PROJECT = "churnlab-hosts"
LAB_NETWORK = ipaddress.IPv4Network("192.168.240.0/24")
PROXY = str(LAB_NETWORK.broadcast_address - 1)  # lab-proxy's address on the lab network
HOST_LABEL = "churnlab.lab-host"  # compose.yml's label of a lab host
NETWORKS = (PROJECT, f"{PROJECT}-egress")  # the lab network (internal), lab-proxy's way out
COMPOSE_FILE = ROOT / "ansible" / "lab-hosts" / "compose.yml"
HOSTS_SECRETS = SECRETS_DIR / "lab-hosts"
KEY = HOSTS_SECRETS / "id_ed25519"
PUBKEY = HOSTS_SECRETS / "id_ed25519.pub"
# What the hosts' sshd reads as their user: a public copy of PUBKEY outside
# .secrets/, which stays owner-only (0600) throughout.
AUTHORIZED_KEYS = STATE_DIR / "lab-hosts" / "authorized_keys"
KNOWN_HOSTS = HOSTS_SECRETS / "known_hosts"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
READY_TIMEOUT_S = 180


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
    """The lab network, once every lab host is checked to be in it."""
    found = addresses(inventory)
    outside = [f"{name} {ip}" for name, ip in found.items() if ipaddress.IPv4Address(ip) not in LAB_NETWORK]
    if outside:
        raise LabError(f"lab hosts must be in the lab network {LAB_NETWORK}: {', '.join(outside)}")
    taken = [name for name, ip in found.items() if ip == PROXY]
    if taken:
        raise LabError(f"lab host {taken[0]} has {PROXY}, lab-proxy's address: choose another")
    return str(LAB_NETWORK)


def compose_env(inventory: Path = LAB_INVENTORY) -> dict[str, str]:
    """The variables ansible/lab-hosts/compose.yml interpolates."""
    env = {f"LAB_HOST_{name.upper()}": ip for name, ip in addresses(inventory).items()}
    env["LAB_HOSTS_SUBNET"] = subnet(inventory)
    env["LAB_HOSTS_PROXY"] = PROXY
    return env


def _compose(*args: str, pubkey: Path | str = AUTHORIZED_KEYS) -> tuple[list[str], dict[str, str]]:
    return (["docker", "compose", "-f", str(COMPOSE_FILE), *args],
            {**os.environ, **compose_env(), "LAB_HOSTS_PUBKEY": str(pubkey)})


def _run(*args: str, title: str, pubkey: Path | str = AUTHORIZED_KEYS) -> None:
    argv, env = _compose(*args, pubkey=pubkey)
    run_logged(argv, title, STATE_DIR / "hosts.log", env=env)


def containers(running_only: bool = False, hosts_only: bool = True) -> dict[str, str]:
    """Container name -> lab address of the lab hosts, or of every container of the project with
    hosts_only=False (lab-proxy too); none where Docker is missing."""
    if not shutil.which("docker"):
        return {}
    label = f"label={HOST_LABEL}" if hosts_only else f"label=com.docker.compose.project={PROJECT}"
    proc = subprocess.run(["docker", "ps", "-q", *([] if running_only else ["-a"]), "--filter",
                           f"label=com.docker.compose.project={PROJECT}", "--filter", label],
                          capture_output=True, text=True)
    ids = proc.stdout.split()
    if not ids:
        return {}
    inspect = subprocess.run(["docker", "inspect", "--format",
                              "{{.Name}} {{with index .NetworkSettings.Networks \"" + PROJECT + "\"}}"
                              "{{.IPAddress}}{{end}}", *ids],
                             capture_output=True, text=True)
    out = {}
    for line in inspect.stdout.splitlines():
        name, _, ip = line.strip().partition(" ")
        if name:
            out[name.lstrip("/")] = ip.strip()
    return out


def _ensure_key() -> None:
    lab_secrets.private_dir(HOSTS_SECRETS)
    if not KEY.exists():
        if not shutil.which("ssh-keygen"):
            raise LabError("ssh-keygen is missing: apt-get install openssh-client (or run `make bootstrap`)")
        console.print("generating this lab's SSH key into .secrets/lab-hosts/")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "churnlab-lab-hosts", "-f", str(KEY)],
                       check=True)
    for folder in (SECRETS_DIR, HOSTS_SECRETS):
        lab_secrets.tighten(folder)
    AUTHORIZED_KEYS.parent.mkdir(parents=True, exist_ok=True)
    AUTHORIZED_KEYS.write_text(PUBKEY.read_text())
    AUTHORIZED_KEYS.chmod(0o644)


def _pin_host_keys(hosts: dict[str, str]) -> None:
    """known_hosts from each container's own host key, read through Docker."""
    lines = []
    deadline = time.monotonic() + 60
    for name, ip in sorted(hosts.items(), key=lambda kv: kv[1]):
        while True:
            proc = subprocess.run(["docker", "exec", name, "cat", HOST_KEY], capture_output=True, text=True)
            if proc.returncode == 0 and proc.stdout.strip():
                break
            if time.monotonic() > deadline:
                raise LabError(f"lab host {name} has no SSH host key after 60 s (docker logs {name})")
            time.sleep(1)
        key_type, key = proc.stdout.split()[:2]
        lines.append(f"{ip} {key_type} {key}\n")
    KNOWN_HOSTS.write_text("".join(lines))
    KNOWN_HOSTS.chmod(0o600)


def ssh_argv(address: str, command: str, connect_timeout: int = 3) -> list[str]:
    """ssh to a lab host as the lab's user, host key checked against the pinned file; no ssh_config is read
    (-F /dev/null: the operator's ~/.ssh/config could send a lab address elsewhere)."""
    return ["ssh", "-q", "-F", "/dev/null", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={KNOWN_HOSTS}", "-o", "IdentitiesOnly=yes",
            "-o", f"ConnectTimeout={connect_timeout}", "-o", "LogLevel=ERROR", f"ansible@{address}", command]


def _wait_ready(hosts: dict[str, str]) -> None:
    ready = ('state=$(systemctl is-system-running --wait 2>/dev/null || true); '
             '[ "$state" = running ] || [ "$state" = degraded ]')
    deadline = time.monotonic() + READY_TIMEOUT_S
    with console.status("waiting for sshd and systemd on every lab host"):
        for name, ip in sorted(hosts.items(), key=lambda kv: kv[1]):
            while subprocess.run(ssh_argv(ip, ready), capture_output=True, stdin=subprocess.DEVNULL,
                                 timeout=READY_TIMEOUT_S).returncode:
                if time.monotonic() > deadline:
                    raise LabError(f"lab host {name} ({ip}) did not come up within {READY_TIMEOUT_S} s "
                                   f"(docker compose -p {PROJECT} logs)")
                time.sleep(2)


def up() -> dict[str, str]:
    require_docker()
    if not shutil.which("ssh"):
        raise LabError("ssh is missing: apt-get install openssh-client (or run `make bootstrap`)")
    base = os.environ.get("BASE_IMAGE", DEFAULT_BASE_IMAGE)
    if not image_exists(base):
        run_logged(["bash", str(BASE_IMAGE_SCRIPT), base], f"building the base image {base}",
                   STATE_DIR / "base-image.log")
    _ensure_key()
    _run("build", "--quiet", title="building the lab hosts' image")
    _run("up", "--detach", "--quiet-pull", title="starting the lab hosts")
    hosts = containers(running_only=True)
    _pin_host_keys(hosts)
    _wait_ready(hosts)
    console.print(f"[green]✓[/] lab hosts up: {', '.join(f'{n} {ip}' for n, ip in sorted(hosts.items()))}; "
                  "host keys pinned in .secrets/lab-hosts/known_hosts")
    return hosts


def down() -> None:
    require_docker()
    # down reads no key: the mount source is only needed to create containers.
    _run("down", "--remove-orphans", "--volumes", "--timeout", "20", title="removing the lab hosts",
         pubkey="/dev/null")
    left = containers(hosts_only=False)
    if left:
        raise LabError(f"lab hosts left behind: {', '.join(left)}")
    for network in NETWORKS:
        if subprocess.run(["docker", "network", "inspect", network], capture_output=True).returncode == 0:
            raise LabError(f"network {network} left behind")
    KNOWN_HOSTS.unlink(missing_ok=True)
    console.print("[green]✓[/] lab hosts down: no container or network left")


def status() -> dict[str, str]:
    require_docker()
    return containers()
