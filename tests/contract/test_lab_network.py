"""The lab hosts' network has no route out (the real `docker compose config`, no container started):
it is `internal`, every lab host is on it alone, and the one service that also reaches out, lab-proxy,
lets apt and pip through to the package mirrors' names only. tests/hosts checks the same on the
running hosts (a connection to TEST-NET-1 goes nowhere; the proxy answers 403 for any address)."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from churnlab.hosts import lab as lab_hosts
from tests.helpers import ROOT

LAB_HOSTS_DIR = ROOT / "ansible" / "lab-hosts"
MIRRORS = {"deb.debian.org", "pypi.org", "files.pythonhosted.org"}


@pytest.fixture(scope="module")
def model() -> dict:
    env = {**os.environ, **lab_hosts.compose_env(), "LAB_HOSTS_PUBKEY": "/dev/null"}
    proc = subprocess.run(["docker", "compose", "-f", str(lab_hosts.COMPOSE_FILE), "config", "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_lab_network_is_internal(model):
    lab = model["networks"]["lab"]
    assert lab["name"] == lab_hosts.PROJECT and lab["internal"] is True
    assert [c["subnet"] for c in lab["ipam"]["config"]] == [str(lab_hosts.LAB_NETWORK)]
    assert {n["name"] for n in model["networks"].values()} == set(lab_hosts.NETWORKS)


def test_every_lab_host_is_on_the_lab_network_alone(model):
    hosts = {name: svc for name, svc in model["services"].items() if svc.get("labels", {}).get(lab_hosts.HOST_LABEL)}
    assert set(hosts) == set(lab_hosts.addresses())
    for name, svc in hosts.items():
        assert list(svc["networks"]) == ["lab"], name
        assert svc["networks"]["lab"]["ipv4_address"] == lab_hosts.addresses()[name]


def test_only_lab_proxy_reaches_out(model):
    others = {name: svc for name, svc in model["services"].items()
              if not svc.get("labels", {}).get(lab_hosts.HOST_LABEL)}
    assert list(others) == ["lab-proxy"]
    proxy = others["lab-proxy"]
    assert set(proxy["networks"]) == {"lab", "egress"}
    assert proxy["networks"]["lab"]["ipv4_address"] == lab_hosts.PROXY
    assert proxy["command"] == ["tinyproxy", "-d", "-c", "/etc/churnlab/lab-proxy.conf"]
    assert not proxy.get("ports")  # nothing published on the controller


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (LAB_HOSTS_DIR / "lab-proxy.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            found.setdefault(key, []).append(value.strip().strip('"'))
    return found


def test_the_proxy_lets_through_the_mirrors_names_only():
    conf = settings()
    assert conf["Allow"] == [str(lab_hosts.LAB_NETWORK)]
    assert conf["FilterDefaultDeny"] == ["Yes"] and conf["FilterType"] == ["ere"]
    assert conf["Filter"] == ["/etc/churnlab/lab-proxy.filter"] and "FilterURLs" not in conf
    assert conf["ConnectPort"] == ["443"]
    assert not {"Upstream", "ReverseOnly", "ReversePath"} & set(conf)
    rules = [line for line in (LAB_HOSTS_DIR / "lab-proxy.filter").read_text().splitlines() if line.strip()]
    names = set()
    for rule in rules:
        match = re.fullmatch(r"\^((?:[a-z0-9-]+\\\.)+[a-z]+)\$", rule)
        assert match, f"{rule!r}: each rule is one whole host name"
        names.add(match.group(1).replace("\\.", "."))
    assert names == MIRRORS


def test_apt_and_pip_on_the_lab_hosts_use_the_proxy():
    dockerfile = (LAB_HOSTS_DIR / "Dockerfile").read_text()
    port = settings()["Port"][0]
    assert f'Acquire::http::Proxy "http://lab-proxy:{port}/";' in dockerfile
    assert f'Acquire::https::Proxy "http://lab-proxy:{port}/";' in dockerfile
    assert f"proxy = http://lab-proxy:{port}" in dockerfile
    assert "COPY lab-proxy.conf lab-proxy.filter /etc/churnlab/" in dockerfile
    assert "tinyproxy.service" in dockerfile  # masked: a lab host never runs a proxy of its own


# -- delegation: every host a play may reach is one the guard judged ---------------------------
def _tasks(tasks):
    for task in tasks or []:
        yield task
        for part in ("block", "rescue", "always"):
            yield from _tasks(task.get(part))


def test_every_delegation_goes_to_a_host_of_the_inventory_or_the_controller():
    """The guard judges every host of the inventory; a play may delegate only to one of them (a play
    variable over groups[...], which the inventory cannot override) or to the controller itself."""
    import yaml

    defined: dict[str, list[str]] = {}
    tasks: list[tuple[str, dict]] = []
    for path in sorted((ROOT / "playbooks").rglob("*.yml")):
        if "group_vars" in path.parts:
            continue
        for entry in yaml.safe_load(path.read_text()) or []:
            if "hosts" in entry:  # a play
                for var, value in (entry.get("vars") or {}).items():
                    defined.setdefault(var, []).append(str(value))
                for part in ("pre_tasks", "tasks", "post_tasks"):
                    tasks += [(path.name, t) for t in _tasks(entry.get(part))]
            else:  # a task file (playbooks/tasks/)
                tasks += [(path.name, t) for t in _tasks([entry])]
    targets = []
    for name, task in tasks:
        target = task.get("delegate_to")
        if target is None or target == "localhost":
            continue
        loop = task.get("loop") if target == "{{ item.host }}" else None
        targets += [(name, item["host"]) for item in loop] if loop else [(name, str(target))]
    assert len(targets) >= 10
    for name, target in targets:
        var = re.fullmatch(r"\{\{ (\w+) \}\}", target)
        assert var and defined.get(var.group(1)), f"{name}: delegate_to {target!r}"
        for value in defined[var.group(1)]:
            assert re.fullmatch(r"\{\{ groups\[[^]]+\]\[0\] \}\}", value), f"{name}: {var.group(1)} is {value!r}"
    roles = "\n".join(p.read_text() for p in (ROOT / "ansible" / "roles").rglob("tasks/*.yml"))
    assert all(v == "localhost" for v in re.findall(r"delegate_to:\s*(\S+)", roles))


def test_no_playbook_or_role_sets_how_a_host_is_reached():
    """The guard reads the connection from the inventory: nothing of this checkout may set it elsewhere."""
    connection_var = re.compile(r"^\s*(ansible_(?:host|ssh_\w+|connection|port|user|become_exe|python_interpreter|"
                                r"private_key_file|password))\s*:", re.M)
    files = [*(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "ansible" / "roles").rglob("*.yml")]
    found = {str(p.relative_to(ROOT)): connection_var.findall(p.read_text()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}
