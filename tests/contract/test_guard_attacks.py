"""Every way around the guard that issue 20 found, tried again through make: each is refused with one
line and exit code 2 before any connection.

Each case runs `make` in a network namespace whose only interface is loopback (tests.helpers.offline),
with `ssh` and `docker` replaced on PATH by spies that only record being called. Besides the one line,
each case proves nothing was attempted: ssh never ran, ansible-playbook never started (no PLAY line),
and the namespace had nothing but loopback. An address outside the lab is 10.30.7.7 (the incident's
database) and 192.0.2.7 (TEST-NET-1) alike."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, assert_refused_offline, make_offline
from tests.helpers import clean_env as env

OUTSIDE = ["10.30.7.7", "192.0.2.7"]
PRODUCTION = "INVENTORY=inventories/production"


@pytest.fixture()
def spy(tmp_path):
    """ssh and docker that only record being called (and fail)."""
    bin_dir, log = tmp_path / "spy-bin", tmp_path / "spy-calls"
    bin_dir.mkdir()
    for tool in ("ssh", "docker"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    return bin_dir, log


def run(spy, *make_args: str, **environment: str):
    """make, offline, with the spies first on PATH and `environment` exported as if by the shell."""
    bin_dir, _ = spy
    environ = env(**environment)
    environ["PATH"] = f"{bin_dir}:{environ['PATH']}"
    return make_offline(*make_args, env=environ)


def assert_refused_before_any_connection(proc, spy, message: str) -> None:
    """One line, exit 2, no play, only loopback (assert_refused_offline), and ssh never ran."""
    _, log = spy
    assert_refused_offline(proc, message)
    calls = log.read_text().splitlines() if log.exists() else []
    assert not [c for c in calls if c.startswith("ssh")], calls  # ssh never ran


def lab_copy(tmp_path: Path, on_db1: str = "", files: dict[str, str] | None = None) -> Path:
    """A copy of inventories/lab (its group_vars included), `on_db1` added to db1's line, `files` added."""
    dest = tmp_path / "lab-copy"
    shutil.copytree(ROOT / "inventories" / "lab", dest)
    hosts = dest / "hosts"
    lines = [line + " " + on_db1 if line.startswith("db1 ansible_host=") else line
             for line in hosts.read_text().splitlines()]
    hosts.write_text("\n".join(lines) + "\n")
    for name, text in (files or {}).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    return dest


# -- the guard trusted ansible_host alone ------------------------------------------------------
@pytest.mark.parametrize("address", OUTSIDE)
def test_ansible_ssh_host_is_the_address_ansible_uses(tmp_path, spy, address):
    inventory = lab_copy(tmp_path, f"ansible_ssh_host={address}")
    proc = run(spy, "provision", f"INVENTORY={inventory}", "CHECK=1")
    assert_refused_before_any_connection(
        proc, spy, f"db1 ({address}; ansible_ssh_host {address} differs from ansible_host 192.168.240.11). "
                   "Rerun with CONFIRM=yes")


@pytest.mark.parametrize("variable, args, shown", [
    ("ansible_ssh_extra_args", "-o HostName={a}", "-o 'HostName={a}' is not allowed"),
    ("ansible_ssh_common_args", "-o ProxyCommand='nc {a} 22'", "-o 'ProxyCommand=nc {a} 22' is not allowed"),
    ("ansible_ssh_common_args", "-o ProxyJump=ansible@{a}", "-o 'ProxyJump=ansible@{a}' is not allowed"),
    ("ansible_ssh_common_args", "-J ansible@{a}", "'-J' is not allowed"),
    ("ansible_ssh_extra_args", "-F {ssh_config}", "'-F' is not allowed"),
    ("ansible_ssh_common_args", "-oStrictHostKeyChecking=no", "-o 'StrictHostKeyChecking=no' is not allowed"),
])
@pytest.mark.parametrize("address", OUTSIDE)
def test_a_hostname_a_proxy_or_an_ssh_config_of_its_own_makes_the_host_outside(tmp_path, spy, variable, args,
                                                                                shown, address):
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  HostName {address}\n")
    value = args.format(a=address, ssh_config=config)
    inventory = lab_copy(tmp_path, files={"host_vars/db1.yml": yaml.safe_dump({variable: value})})
    proc = run(spy, "provision", f"INVENTORY={inventory}", "CHECK=1")
    assert_refused_before_any_connection(proc, spy, f"db1 (192.168.240.11; {variable}: {shown.format(a=address)})")


@pytest.mark.parametrize("variable, message", [
    ("ansible_connection=local", "db1 (192.168.240.11; ansible_connection='local' is not a lab connection)"),
    ("ansible_connection=docker", "ansible_connection='docker' is not a lab connection"),
    ("ansible_ssh_executable=/tmp/ssh", "db1 (192.168.240.11; ansible_ssh_executable is set)"),
    ("ansible_ssh_args=-oProxyJump=10.30.7.7", "ansible_ssh_args is set"),
    ("ansible_host='{{ lookup(\"env\", \"X\") }}'", "db1 ({{ lookup(\"env\", \"X\") }})"),
])
def test_any_other_way_of_reaching_a_host_makes_it_outside(tmp_path, spy, variable, message):
    inventory = lab_copy(tmp_path, variable)
    proc = run(spy, "provision", f"INVENTORY={inventory}")
    assert_refused_before_any_connection(proc, spy, message)


# -- an executable or plugin inventory could answer the guard and the playbook differently ------
def test_an_inventory_script_is_refused(tmp_path, spy):
    inventory = lab_copy(tmp_path)
    script = inventory / "hosts"
    # It would answer with lab addresses once, then 10.30.7.7: it is never run.
    script.write_text("#!/bin/sh\necho '{\"db\": {\"hosts\": [\"db1\"]}, \"_meta\": {\"hostvars\": "
                      "{\"db1\": {\"ansible_host\": \"192.168.240.11\"}}}}'\n")
    script.chmod(0o755)
    proc = run(spy, "provision", f"INVENTORY={inventory}")
    assert_refused_before_any_connection(
        proc, spy, "hosts is executable: an inventory script can answer the guard and the run differently")


def test_another_inventory_source_beside_the_hosts_file_is_refused(tmp_path, spy):
    plugin = {"plugin": "ansible.builtin.constructed", "compose": {"ansible_host": "'10.30.7.7'"}}
    inventory = lab_copy(tmp_path, files={"zz-constructed.yml": yaml.safe_dump(plugin)})
    proc = run(spy, "provision", f"INVENTORY={inventory}")
    assert_refused_before_any_connection(proc, spy, "zz-constructed.yml is not read (Ansible would read it as "
                                                    "another inventory source, a plugin or a script)")


# -- a confirmation was inherited, and any true-ish word counted --------------------------------
def test_a_confirm_exported_in_the_shell_confirms_nothing(spy):
    proc = run(spy, "provision", PRODUCTION, "CHECK=1", CONFIRM="yes")
    assert_refused_before_any_connection(proc, spy, "Rerun with CONFIRM=yes (or CONFIRM=production) on the command "
                                                    "line (CONFIRM='yes' came from the environment, which confirms "
                                                    "nothing)")


def test_a_confirm_repro_exported_in_the_shell_confirms_nothing(spy):
    proc = run(spy, "provision", PRODUCTION, "CONFIRM=yes", "PROFILE=repro", CONFIRM_REPRO="yes")
    assert_refused_before_any_connection(proc, spy, "(CONFIRM_REPRO='yes' came from the environment, which "
                                                    "confirms nothing)")


@pytest.mark.parametrize("word", ["YES", "1", "on", "true", "y", "lab"])
def test_only_yes_or_the_inventorys_name_confirms(spy, word):
    proc = run(spy, "provision", PRODUCTION, f"CONFIRM={word}")
    assert_refused_before_any_connection(proc, spy, f"(CONFIRM='{word}' is not a confirmation)")


def test_an_inventory_exported_in_the_shell_needs_a_confirmation_that_names_it(spy):
    proc = run(spy, "provision", "CONFIRM=yes", INVENTORY="inventories/production")
    assert_refused_before_any_connection(proc, spy, "INVENTORY=inventories/production came from the environment, "
                                                    "not from this command line")


# -- the environment redirected the guard -------------------------------------------------------
def test_another_trees_ansible_cfg_is_refused_for_hosts_outside_the_lab(tmp_path, spy):
    tree = tmp_path / "other-tree"
    shutil.copytree(ROOT / "inventories" / "production", tree / "inventories" / "production")
    (tree / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\n[ssh_connection]\n"
                                      "ssh_args = -o ProxyCommand='nc 10.30.7.7 22' -o StrictHostKeyChecking=no\n")
    proc = run(spy, "provision", PRODUCTION, "CONFIRM=yes", "CHECK=1", CHURNLAB_ROOT=str(tree))
    assert_refused_before_any_connection(proc, spy, f"CHURNLAB_ROOT={tree} is not this checkout")


def test_another_presets_file_is_refused_for_hosts_outside_the_lab(tmp_path, spy):
    presets = yaml.safe_load((ROOT / "config" / "presets.yml").read_text())
    for entry in (*presets["variants"].values(), *presets["profiles"].values()):
        entry.pop("incident", None)  # no incident flags: PROFILE=repro would pass without CONFIRM_REPRO
    copy = tmp_path / "presets.yml"
    copy.write_text(yaml.safe_dump(presets))
    proc = run(spy, "provision", PRODUCTION, "CONFIRM=yes", "PROFILE=repro", CHURNLAB_PRESETS=str(copy))
    assert_refused_before_any_connection(proc, spy, f"the presets file is {copy} (CHURNLAB_PRESETS), not this "
                                                    "checkout's config/presets.yml")


# -- where a load sends and writes --------------------------------------------------------------
@pytest.mark.parametrize("address", OUTSIDE)
def test_load_target_must_be_a_host_of_the_inventory(tmp_path, spy, address):
    inventory = lab_copy(tmp_path, files={"group_vars/loadgen/target.yml": f"load_target: http://{address}:8000\n"})
    proc = run(spy, "provision-load", f"INVENTORY={inventory}", "VUS=10", "ITERATIONS=10")
    assert_refused_before_any_connection(proc, spy, f"load_target='http://{address}:8000' (loadgen1) is not an "
                                                    "address of a host of")


@pytest.mark.parametrize("folder", ["/tmp/elsewhere", "{root}/results/../escaped", "{root}/results"])
def test_load_fetch_dir_stays_under_results(tmp_path, spy, folder):
    value = folder.format(root=ROOT)
    inventory = lab_copy(tmp_path, files={"group_vars/loadgen/fetch.yml": f"load_fetch_dir: {value}\n"})
    proc = run(spy, "provision-load", f"INVENTORY={inventory}", "VUS=10", "ITERATIONS=10")
    assert_refused_before_any_connection(proc, spy, f"load_fetch_dir='{value}' (loadgen1) is not a folder under "
                                                    f"{ROOT}/results")


@pytest.mark.parametrize("vus", [[], ["VUS=500"], ["VUS=2000"]])
def test_the_incidents_load_outside_the_lab_needs_confirm_repro(spy, vus):
    proc = run(spy, "provision-load", PRODUCTION, "CONFIRM=yes", *vus)
    level = vus[0].split("=")[1] if vus else "500"
    assert_refused_before_any_connection(proc, spy, f"VUS={level} is the incident's load (ab -c 500 and more) on "
                                                    "app-01 (10.30.8.11), app-02 (10.30.8.12)")
