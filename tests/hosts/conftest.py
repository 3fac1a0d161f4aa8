"""The lab hosts' tests: SSH to them with the lab's key and pinned host keys."""
from __future__ import annotations

import subprocess

from churnlab.hosts import lab as lab_hosts
from tests.helpers import lab_host_containers
from tests.hosts import beside_e2e

LAB_HOSTS = lab_hosts.addresses()  # from inventories/lab/hosts, their one source


def ssh(host: str, command: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command on a lab host as root (sudo), over SSH with the lab's key.
    Never on the test's own stdin: ssh makes its stdin non-blocking, and Ansible,
    started meanwhile on the same file, refuses to run on a non-blocking stdin."""
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(lab_hosts.ssh_argv(LAB_HOSTS[host], f"sudo bash -c {quote(command)}", connect_timeout=5),
                          capture_output=True, text=True, timeout=timeout, **feed)


def quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def pytest_runtest_setup(item):
    """make test: a test not marked beside_e2e waits until the e2e tests' loads are done (beside_e2e.py)."""
    beside_e2e.guard(item, lab_host_containers)
