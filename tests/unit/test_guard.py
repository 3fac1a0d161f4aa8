"""The guard's parts, without Ansible: how a host is reached (churnlab.hosts.connection's allowlist),
the inventory's private copy (churnlab.hosts.snapshot), what counts as a confirmation, where a load may
send and write, and which files a run outside the lab may use. The attacks themselves, through make
and in a network namespace with only loopback, are tests/contract/test_guard_attacks.py."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from churnlab.cli.options import given_here
from churnlab.core.errors import LabError
from churnlab.core.paths import RESULTS_DIR, ROOT, STATE_DIR
from churnlab.hosts import connection, snapshot
from churnlab.hosts import guard as hosts_guard
from tests.helpers import env_table

# The production inventory reaches the guard here: no process may start, and no socket may
# leave loopback (conftest's no_route_but_loopback).
pytestmark = pytest.mark.usefixtures("no_processes")

LAB_VARS = {  # what inventories/lab gives every host (ansible-inventory --list, unrendered)
    "ansible_host": "192.168.240.11", "ansible_user": "ansible",
    "ansible_ssh_private_key_file": "{{ inventory_dir }}/../../.secrets/lab-hosts/id_ed25519",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={{ inventory_dir }}/../../"
                               ".secrets/lab-hosts/known_hosts -o IdentitiesOnly=yes -o LogLevel=ERROR",
    "churnlab_variant": "direct",
}
HERE = Path("/srv/checkout/.lab/inventory-1-x")


def why(**changed) -> tuple[str, ...]:
    return connection.effective("db1", {**LAB_VARS, **changed}, HERE).why


def test_the_labs_own_connection_is_a_lab_connection():
    assert connection.effective("db1", LAB_VARS, HERE) == connection.Connection("192.168.240.11", ())
    assert hosts_guard.Host("db1", "192.168.240.11", ("db",), LAB_VARS).in_lab
    # the same address twice, a port, a python: still the lab
    assert why(ansible_ssh_host="192.168.240.11", ansible_port=2222, ansible_python_interpreter="/usr/bin/python3",
               ansible_connection="ssh") == ()


@pytest.mark.parametrize("changed, reason", env_table("""
    ansible_ssh_host=10.30.7.7 -> ansible_ssh_host 10.30.7.7 differs from ansible_host 192.168.240.11
    ansible_connection=local -> ansible_connection='local' is not a lab connection
    ansible_connection=paramiko -> ansible_connection='paramiko' is not a lab connection
    ansible_ssh_executable=/x/ssh -> ansible_ssh_executable is set
    ansible_password=secret -> ansible_password is set
    'ansible_become_exe=ssh 10.30.7.7' -> ansible_become_exe is set
    'ansible_port=22; x' -> ansible_port='22; x' is not a lab connection
    'ansible_user={{ x }}' -> ansible_user='{{ x }}' is not a lab connection
    'ansible_python_interpreter=ssh 10.30.7.7 python3' -> ansible_python_interpreter is not a lab connection
    "ansible_ssh_private_key_file={{ lookup('pipe', 'x') }}" -> ansible_ssh_private_key_file is not a lab connection
    'ansible_ssh_extra_args=-o HostName=192.0.2.7' -> ansible_ssh_extra_args: -o 'HostName=192.0.2.7' is not allowed
    "ansible_ssh_extra_args=-o 'hostname 192.0.2.7'" -> ansible_ssh_extra_args: -o 'hostname 192.0.2.7' is not allowed
    "ansible_ssh_common_args=-o ProxyCommand='nc 10.30.7.7 22'"
        -> ansible_ssh_common_args: -o 'ProxyCommand=nc 10.30.7.7 22' is not allowed
    ansible_ssh_common_args=-oProxyJump=192.0.2.7 -> ansible_ssh_common_args: -o 'ProxyJump=192.0.2.7' is not allowed
    'ansible_ssh_common_args=-J 10.30.7.7' -> ansible_ssh_common_args: '-J' is not allowed
    'ansible_ssh_common_args=-F /tmp/config' -> ansible_ssh_common_args: '-F' is not allowed
    'ansible_ssh_common_args=-o StrictHostKeyChecking=no'
        -> ansible_ssh_common_args: -o 'StrictHostKeyChecking=no' is not allowed
    'ansible_ssh_common_args=-o ConnectTimeout=5s' -> ansible_ssh_common_args: -o 'ConnectTimeout=5s' is not allowed
    'ansible_ssh_common_args={{ evil }}' -> ansible_ssh_common_args is not a lab connection
    "ansible_ssh_common_args=-o 'unterminated" -> ansible_ssh_common_args: cannot be read (No closing quotation)
""") + [({'ansible_port': True}, "ansible_port='True' is not a lab connection")])
def test_any_other_way_of_reaching_it_makes_the_host_outside(changed, reason):
    assert reason in why(**changed)
    host = connection.effective("db1", {**LAB_VARS, **changed}, HERE)
    assert not hosts_guard.Host("db1", host.address, ("db",), {}, host.why).in_lab


def test_an_empty_address_variable_is_no_lab_address():
    assert why(ansible_ssh_host=None) == ("ansible_ssh_host  differs from ansible_host 192.168.240.11",)


def test_the_inventory_folder_is_filled_in_before_the_ssh_arguments_are_read():
    # Ansible fills in the folder, then splits the arguments: a folder name with spaces adds options.
    spaced = connection.effective("db1", LAB_VARS, Path("/tmp/x -o ProxyCommand=nc 10.30.7.7 22/a"))
    assert spaced.why == ("ansible_ssh_common_args: -o 'ProxyCommand=nc' is not allowed",)


def test_a_name_or_a_template_is_not_provably_the_lab():
    assert connection.effective("db1.example", {}, HERE).address == "db1.example"
    assert not hosts_guard.Host("db1.example", "db1.example", ()).in_lab


# -- what confirms -----------------------------------------------------------------------------
PROD = ROOT / "inventories" / "production"


@pytest.mark.parametrize("value, here, confirms", [
    ("yes", True, True), ("production", True, True), ("inventories/production", True, True),
    ("inventories/production/", True, True),
    ("yes", False, False), ("production", False, False), ("YES", True, False), ("1", True, False),
    ("on", True, False), ("true", True, False), ("lab", True, False), ("", True, False),
])
def test_only_yes_or_the_inventorys_name_given_here_confirms(value, here, confirms):
    assert hosts_guard.Word("CONFIRM", value, here).confirms(PROD) is confirms


def test_the_refusal_says_how_to_confirm_and_why_the_value_did_not():
    assert hosts_guard.Word("CONFIRM").how(PROD) == "Rerun with CONFIRM=yes (or CONFIRM=production) on the command line"
    assert "came from the environment, which confirms nothing" in hosts_guard.Word("CONFIRM", "yes").how(PROD)
    assert "CONFIRM='1' is not a confirmation" in hosts_guard.Word("CONFIRM", "1", True).how(PROD)


@pytest.mark.parametrize("source, makelevel, given, here", [
    ("COMMANDLINE", None, "", True),          # churnlab hosts provision --confirm yes
    ("ENVIRONMENT", "1", "INVENTORY CONFIRM", True),   # make provision CONFIRM=yes
    ("ENVIRONMENT", "1", "INVENTORY", False),  # export CONFIRM=yes; make provision INVENTORY=...
    ("ENVIRONMENT", None, "CONFIRM", False),   # CHURNLAB_GIVEN without make: not trusted
    ("DEFAULT", "1", "CONFIRM", False),
])
def test_given_here(monkeypatch, source, makelevel, given, here):
    if makelevel:
        monkeypatch.setenv("MAKELEVEL", makelevel)
    monkeypatch.setenv("CHURNLAB_GIVEN", given)
    assert given_here("CONFIRM", source) is here


def test_the_makefile_names_what_was_given_on_its_command_line():
    text = (ROOT / "Makefile").read_text()
    assert "$(if $(filter command line,$(origin $(v))),$(v))" in text
    assert "CHURNLAB := CHURNLAB_GIVEN='$(GIVEN)' $(CHURNLAB_BIN)" in text


# -- the private copy ----------------------------------------------------------------------------
def inventory(tmp_path: Path) -> Path:
    folder = tmp_path / "inv"
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "hosts").write_text("[db]\ndb1 ansible_host=192.168.240.11\n")
    (folder / "group_vars" / "all" / "x.yml").write_text("a: 1\n")
    return folder


def test_the_copy_is_private_and_removed(tmp_path):
    copy = snapshot.take(inventory(tmp_path))
    try:
        assert copy.parent == STATE_DIR and copy.parent.parent == ROOT  # {{ inventory_dir }}/../.. is the checkout
        assert stat.S_IMODE(copy.stat().st_mode) == 0o700
        assert stat.S_IMODE((copy / "hosts").stat().st_mode) == 0o600
        assert stat.S_IMODE((copy / "group_vars" / "all").stat().st_mode) == 0o700
        assert (copy / "group_vars" / "all" / "x.yml").read_text() == "a: 1\n"
    finally:
        snapshot.remove(copy)
    assert not copy.exists()


@pytest.mark.parametrize("spoil, message", [
    (lambda f: (f / "hosts").chmod(0o755), "hosts is executable"),
    (lambda f: (f / "inventory.yml").write_text("plugin: constructed\n"), "inventory.yml is not read"),
    (lambda f: os.mkfifo(f / "group_vars" / "all" / "pipe.yml"), "pipe.yml is not a regular file"),
    (lambda f: (f / "group_vars" / "all" / "loop").symlink_to(f / "group_vars"), "links back into itself"),
    (lambda f: (f / "host_vars").write_text("x"), "host_vars is not a folder"),
])
def test_only_a_static_inventory_is_copied(tmp_path, spoil, message):
    folder = inventory(tmp_path)
    spoil(folder)
    before = set(STATE_DIR.glob("inventory-*"))
    with pytest.raises(LabError, match=message):
        snapshot.take(folder)
    assert set(STATE_DIR.glob("inventory-*")) == before  # nothing left behind


def test_a_copy_left_by_a_dead_process_is_swept(tmp_path):
    STATE_DIR.mkdir(exist_ok=True)
    stale = STATE_DIR / f"{snapshot.PREFIX}999999999-dead"
    stale.mkdir()
    copy = snapshot.take(inventory(tmp_path))
    snapshot.remove(copy)
    assert not stale.exists()


# -- where a load sends and writes ---------------------------------------------------------------
HOSTS = [hosts_guard.Host("app1", "192.168.240.13", ("app",)), hosts_guard.Host("loadgen1", "192.168.240.14", ())]


def with_vars(**hostvars) -> list[hosts_guard.Host]:
    return [*HOSTS, hosts_guard.Host("loadgen2", "192.168.240.15", ("loadgen",), hostvars)]


@pytest.mark.parametrize("target", ["http://192.168.240.13:8000", "https://192.168.240.13:8443/",
                                    "http://192.168.240.13"])
def test_a_load_target_of_the_inventory_passes(target):
    hosts_guard.check_load_vars(with_vars(load_target=target, load_fetch_dir=str(RESULTS_DIR / "x")), "lab")


@pytest.mark.parametrize("target", ["http://10.30.7.7:8000", "http://192.0.2.7", "http://app1:8000",
                                    "http://192.168.240.13:8000/other", "http://u@192.168.240.13",
                                    "ftp://192.168.240.13", "http://{{ x }}", "http://192.168.240.13:99999", 8000])
def test_any_other_load_target_is_refused(target):
    with pytest.raises(LabError, match="is not an address of a host of lab"):
        hosts_guard.check_load_vars(with_vars(load_target=target), "lab")


@pytest.mark.parametrize("folder", ["/tmp/x", "results/x", str(RESULTS_DIR), str(RESULTS_DIR / ".." / "x"),
                                    str(RESULTS_DIR) + "/{{ x }}", ["x"]])
def test_a_fetch_dir_outside_results_is_refused(folder):
    with pytest.raises(LabError, match="is not a folder under"):
        hosts_guard.check_load_vars(with_vars(load_fetch_dir=folder), "lab")


# -- the checkout's own files ------------------------------------------------------------------
def test_another_presets_file_is_refused_for_hosts_outside_the_lab(monkeypatch, tmp_path):
    hosts_guard.own_files_only("inventories/production")  # this checkout's: fine
    copy = tmp_path / "presets.yml"
    copy.write_text((ROOT / "config" / "presets.yml").read_text())
    monkeypatch.setenv("CHURNLAB_PRESETS", str(copy))
    with pytest.raises(LabError, match=r"\(CHURNLAB_PRESETS\), not this checkout's config/presets.yml"):
        hosts_guard.own_files_only("inventories/production")


def test_another_tree_is_refused_for_hosts_outside_the_lab(monkeypatch, tmp_path):
    monkeypatch.setenv("CHURNLAB_ROOT", str(tmp_path))
    monkeypatch.setattr(hosts_guard, "ROOT", tmp_path)
    with pytest.raises(LabError, match=f"CHURNLAB_ROOT={tmp_path} is not this checkout"):
        hosts_guard.own_files_only("inventories/production")


def test_the_lab_reads_no_ssh_config_and_production_no_other_presets(monkeypatch):
    monkeypatch.setenv("CHURNLAB_PRESETS", "/tmp/other.yml")
    monkeypatch.setenv("ANSIBLE_SSH_ARGS", "-o ProxyCommand=x")
    lab, outside = hosts_guard.ansible_env(lab=True), hosts_guard.ansible_env()
    assert lab["ANSIBLE_SSH_ARGS"].endswith("-F /dev/null") and lab["CHURNLAB_PRESETS"] == "/tmp/other.yml"
    assert "ANSIBLE_SSH_ARGS" not in outside and "CHURNLAB_PRESETS" not in outside


def test_mitogen_converges_the_lab_and_ansibles_own_strategy_the_rest(monkeypatch):
    monkeypatch.setenv("ANSIBLE_STRATEGY", "free")
    monkeypatch.setenv("ANSIBLE_STRATEGY_PLUGINS", "/tmp/elsewhere")
    lab, outside = hosts_guard.ansible_env(lab=True), hosts_guard.ansible_env()
    assert lab["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(lab["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    assert "ANSIBLE_STRATEGY" not in outside and "ANSIBLE_STRATEGY_PLUGINS" not in outside


def test_ansible_runs_the_systems_ssh_whatever_path_puts_first(monkeypatch, tmp_path):
    (tmp_path / "ssh").write_text("#!/bin/sh\n")
    (tmp_path / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("ANSIBLE_SSH_EXECUTABLE", str(tmp_path / "ssh"))
    for env in (hosts_guard.ansible_env(lab=True), hosts_guard.ansible_env()):
        assert env["ANSIBLE_SSH_EXECUTABLE"] == hosts_guard.SYSTEM_SSH == "/usr/bin/ssh"
