"""Helpers for the Ansible tests: the repository, make, SSH to the lab hosts."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from churnlab import lab_hosts

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
LAB_KEY = ROOT / ".secrets" / "lab-hosts" / "id_ed25519"
LAB_HOSTS = lab_hosts.addresses()  # from inventories/lab/hosts, their one source
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


# Variables that steer the front door: never inherited from the caller, so an
# exported CONFIRM=yes cannot turn a "production is refused" test into a run.
STEERING = ("CONFIRM", "CONFIRM_REPRO", "INVENTORY", "VARIANT", "PROFILE", "CHECK", "ANSIBLE_ARGS", "SCENARIO",
            "VUS", "ITERATIONS", "KEEPALIVE", "DIAG_SECONDS")


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in STEERING and not k.startswith("ANSIBLE_")}
    return {**clean, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}


def make(*args: str, timeout: float = 900, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "-s", *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP of an ansible-playbook run: host -> {ok, changed, unreachable, failed}."""
    out: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in RECAP.findall(output):
        out[host] = {"ok": int(ok), "changed": int(changed), "unreachable": int(unreachable), "failed": int(failed)}
    return out


def ssh(host: str, command: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command on a lab host as root (sudo), over SSH with the lab's key."""
    from churnlab.lab_hosts import ssh_argv

    return subprocess.run(ssh_argv(LAB_HOSTS[host], f"sudo bash -c {quote(command)}", connect_timeout=5),
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def lab_host_containers() -> list[str]:
    if not docker_available():
        return []
    proc = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           "label=com.docker.compose.project=churnlab-hosts"], capture_output=True, text=True)
    return proc.stdout.split()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
