"""The front door refuses production before a single connection attempt.

Every case runs `make provision|provision-load|investigate` inside a
network namespace that has only loopback (`unshare --net`): even a bug in the
guard could not send a packet to 10.30.x. Besides the exit code and the one
line, each case proves nothing was attempted: ansible-playbook never started
(no PLAY line) and the namespace's only interface sent nothing but loopback.
The caller's CONFIRM, INVENTORY, ANSIBLE_* ... are cleared (tests.helpers.clean_env)."""
from __future__ import annotations

import pytest

from tests.helpers import assert_refused_offline
from tests.helpers import clean_env as env
from tests.helpers import make_offline as in_empty_netns

PRODUCTION = "INVENTORY=inventories/production"


@pytest.mark.parametrize("args, message", [
    ([PRODUCTION], "reaches hosts outside the lab network 192.168.240.0/24: app-01 (10.30.8.11)"),
    ([PRODUCTION, "CHECK=1"], "Rerun with CONFIRM=yes"),
    (["INVENTORY=inventories/production-single"], "outside the lab network 192.168.240.0/24: db-01 (10.30.7.7)"),
    (["ANSIBLE_ARGS=-i inventories/production"], "ANSIBLE_ARGS: '-i' is not allowed; allowed: --check --diff"),
    (["ANSIBLE_ARGS=-e ansible_host=10.30.7.7"], "ANSIBLE_ARGS: '-e' is not allowed"),
    (["ANSIBLE_ARGS=--extra-vars=ansible_host=10.30.7.7"], "'--extra-vars=ansible_host=10.30.7.7' is not allowed"),
    (["ANSIBLE_ARGS=--ssh-common-args=-oProxyCommand=x"], "is not allowed"),
    ([PRODUCTION, "CONFIRM=yes", "PROFILE=repro"],
     "PROFILE=repro reproduces the incident on app-01 (10.30.8.11), app-02 (10.30.8.12)"),
    ([PRODUCTION, "CONFIRM=yes", "VARIANT=direct"], "VARIANT=direct reproduces the incident on app-01"),
    ([PRODUCTION, "CONFIRM=yes", "VARIANT=bogus"], "unknown variant 'bogus'; valid variants: direct"),
])
def test_production_is_refused_without_a_connection_attempt(args, message):
    assert_refused_offline(in_empty_netns("provision", *args), message)


@pytest.mark.parametrize("target", ["provision-load", "investigate", "provision-diagnose", "sampler"])
def test_load_and_investigate_on_production_need_confirm(target):
    proc = in_empty_netns(target, PRODUCTION)
    assert proc.returncode == 2
    assert "Rerun with CONFIRM=yes" in proc.stderr and "PLAY [" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    ([PRODUCTION], "reaches hosts outside the lab network 192.168.240.0/24: app-01 (10.30.8.11)"),
    ([PRODUCTION, "LIMIT=app-02"], "Rerun with CONFIRM=yes (or CONFIRM=production) on the command line"),
    (["INVENTORY=inventories/production-single"], "outside the lab network 192.168.240.0/24: db-01 (10.30.7.7)"),
    ([PRODUCTION, "CONFIRM=YES"], "CONFIRM='YES' is not a confirmation"),
])
def test_investigate_on_production_is_refused_before_any_connection(args, message):
    """make investigate: read-only, but it still reaches the hosts, so it needs CONFIRM like every host command
    (the unit tests show that with CONFIRM it asks for nothing more: tests/unit/test_hosts_investigate.py)."""
    assert_refused_offline(in_empty_netns("investigate", *args), message)


def test_lab_inventory_with_the_lab_hosts_down_is_refused_before_ssh(tmp_path):
    # A lab-network address no lab host holds: on another network it could be a real machine.
    inventory = tmp_path / "ghost"
    inventory.mkdir()
    (inventory / "hosts").write_text("[app]\nghost1 ansible_host=192.168.240.99\n[db]\nghost1\n")
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "group_vars" / "all" / "variant.yml").write_text("churnlab_variant: direct\nsysctl_profile: repro\n")
    proc = in_empty_netns("provision", f"INVENTORY={inventory}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the lab hosts are not up (ghost1 192.168.240.99): run `make hosts-up` first" in proc.stderr
    assert "PLAY [" not in proc.stdout


def test_exported_confirm_does_not_leak_into_tests(monkeypatch):
    monkeypatch.setenv("CONFIRM", "yes")
    monkeypatch.setenv("ANSIBLE_INVENTORY", "inventories/production")
    assert "CONFIRM" not in env() and "ANSIBLE_INVENTORY" not in env()
    proc = in_empty_netns("provision", PRODUCTION)
    assert proc.returncode == 2 and "Rerun with CONFIRM=yes" in proc.stderr


@pytest.mark.parametrize("args, message", [
    ([PRODUCTION, "REMOVE=1"], "Rerun with CONFIRM=yes"),
    ([PRODUCTION, "CONFIRM=yes", "REMOVE=maybe"], "REMOVE='maybe' must be one of: 1 0 true false yes no on off"),
    ([PRODUCTION, "CONFIRM=yes", "LIMIT=@hosts.txt"], "LIMIT='@hosts.txt' must be host names or groups"),
])
def test_sampler_on_production_is_refused_before_any_connection(args, message):
    """make sampler installs a service on hosts the lab did not build: CONFIRM first, bad values one line."""
    assert_refused_offline(in_empty_netns("sampler", *args), message)
