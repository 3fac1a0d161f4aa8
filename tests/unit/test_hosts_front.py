"""The hosts front door's own logic, through the CLI (typer's CliRunner), with
the two boundaries faked: the inventory listing and ansible-playbook."""
from __future__ import annotations

import pytest

from churnlab.hosts import guard as hosts_guard
from churnlab.hosts import inventory as hosts
from tests.helpers import env_table

# The production inventory reaches the guard here: no process may start, and no socket may
# leave loopback (conftest's no_route_but_loopback).
pytestmark = pytest.mark.usefixtures("no_processes")

LAB = [hosts_guard.Host("app1", "192.168.240.13", ("app",), {"churnlab_variant": "direct", "sysctl_profile": "repro"}),
       hosts_guard.Host("db1", "192.168.240.11", ("db",), {})]
PROD = [hosts_guard.Host("app-01", "10.30.8.11", ("app",), {"churnlab_variant": "gthread", "sysctl_profile": "tuned"}),
        hosts_guard.Host("db-01", "10.30.7.7", ("db",), {})]


def on_make_line(**env: str) -> dict[str, str]:
    """make's variables as `make <target> NAME=value ...` hands them over: in the environment, with the
    names given on make's own command line in CHURNLAB_GIVEN (the Makefile's GIVEN), under make."""
    return {**env, "MAKELEVEL": "1", "CHURNLAB_GIVEN": " ".join(env)}


@pytest.fixture()
def fake(monkeypatch, cli):
    """Which hosts the inventory resolves to, which lab hosts run, and what ansible-playbook got."""
    state = {"hosts": LAB, "running": {h.address: h.name for h in LAB}, "runs": []}
    monkeypatch.setattr(hosts_guard, "resolve_hosts", lambda copy, extra, label="": state["hosts"])
    monkeypatch.setattr(hosts_guard, "running_lab_hosts", lambda: state["running"])
    monkeypatch.setattr(hosts, "_playbook",
                        lambda t, name, extra_vars: state["runs"].append((name, extra_vars, t.extra)))
    state["cli"] = cli
    return state


def test_unnamed_settings_come_from_the_inventory(fake):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "provision", **on_make_line(INVENTORY="inventories/production", CONFIRM="yes"))
    assert result.code == 0, result.stderr
    assert fake["runs"] == [("site.yml", {}, [])]  # no -e: the inventory's own gthread + tuned
    assert "VARIANT=gthread (the inventory's own), PROFILE=tuned (the inventory's own)" in result.stderr


def test_named_settings_are_passed_and_checked(fake):
    result = fake["cli"]("hosts", "provision", VARIANT="gthread", PROFILE="tuned", CHECK="1")
    assert result.code == 0, result.stderr
    assert fake["runs"] == [("site.yml", {"churnlab_variant": "gthread", "sysctl_profile": "tuned"},
                             ["--check", "--diff"])]


@pytest.mark.parametrize("env, message", env_table("""
    VARIANT=bogus -> unknown variant 'bogus'; valid variants: direct, persistent, gthread
    PROFILE=x -> unknown profile 'x'; valid profiles: default, repro, tuned
    'ANSIBLE_ARGS=-i inventories/production' -> '-i' is not allowed
    ANSIBLE_ARGS=--limit -> --limit needs a value
    ANSIBLE_ARGS=--check=1 -> --check takes no value
    "ANSIBLE_ARGS=--tags 'unterminated" -> cannot be parsed
"""))
def test_bad_input_starts_nothing(fake, env, message):
    assert_refused(fake, fake["cli"]("hosts", "provision", **env), message)


def assert_refused(fake, result, message: str) -> None:
    """One line on stderr naming `message`, exit code 2, and no playbook run."""
    assert result.code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert fake["runs"] == []


def test_outside_the_lab_needs_confirm_then_confirm_repro(fake):
    fake["hosts"] = PROD
    for env, message in [({}, "Rerun with CONFIRM=yes"),
                         ({"CONFIRM": "yes", "PROFILE": "repro"}, "PROFILE=repro reproduces the incident on app-01"),
                         ({"CONFIRM": "yes", "VARIANT": "persistent"}, "VARIANT=persistent reproduces")]:
        result = fake["cli"]("hosts", "provision", **on_make_line(**env))
        assert result.code == 2 and message in result.stderr, (env, result.stderr)
    assert fake["runs"] == []
    # Both confirmations: it goes ahead, and says what it does to those hosts.
    result = fake["cli"]("hosts", "provision", **on_make_line(CONFIRM="yes", CONFIRM_REPRO="yes", PROFILE="repro",
                                                              VARIANT=""))
    assert result.code == 0 and fake["runs"][-1][1] == {"sysctl_profile": "repro"}
    assert "1,000 ephemeral ports" in result.stderr


def test_dry_run_of_the_incident_profile_needs_only_confirm(fake):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "provision", **on_make_line(CONFIRM="yes", PROFILE="repro", CHECK="1"))
    assert result.code == 0, result.stderr
    assert fake["runs"][-1][2] == ["--check", "--diff"]


def test_lab_hosts_down_are_refused(fake):
    fake["running"] = {}
    result = fake["cli"]("hosts", "provision")
    assert result.code == 2 and "the lab hosts are not up" in result.stderr
    assert fake["runs"] == []


def test_allowlist_keeps_allowed_options():
    assert hosts_guard.parse_extra_args("-C --diff --limit=app1 -t app -vvv --vault-id prod@prompt") == [
        "-C", "--diff", "--limit", "app1", "-t", "app", "-vvv", "--vault-id", "prod@prompt"]


def test_an_address_is_lab_only_inside_the_lab_network():
    assert hosts_guard.Host("a", "192.168.240.13", ()).in_lab
    assert not hosts_guard.Host("a", "192.168.241.13", ()).in_lab
    assert not hosts_guard.Host("a", "db.example", ()).in_lab  # a name is not provably the lab
    assert not hosts_guard.Host("a", "{{ lookup('env', 'X') }}", ()).in_lab


def test_nothing_here_can_reach_a_production_address():
    # tests/unit/conftest.py refuses every connection past loopback, before a packet leaves.
    import socket

    with pytest.raises(AssertionError, match="tried to connect"):
        socket.create_connection(("10.30.7.7", 22), timeout=0.01)


def test_an_inventory_from_the_environment_needs_a_confirmation_that_names_it(fake, monkeypatch):
    fake["hosts"] = PROD
    monkeypatch.setenv("INVENTORY", "inventories/production")  # exported in the shell: not in CHURNLAB_GIVEN
    result = fake["cli"]("hosts", "provision", **on_make_line(CONFIRM="yes"))
    assert result.code == 2 and "INVENTORY=inventories/production came from the environment" in result.stderr
    assert fake["runs"] == []
    result = fake["cli"]("hosts", "provision", **on_make_line(CONFIRM="production"))
    assert result.code == 0, result.stderr
    assert len(fake["runs"]) == 1


def test_a_confirmation_on_the_clis_own_command_line_counts(fake):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "provision", "--inventory", "inventories/production", "--confirm", "yes")
    assert result.code == 0, result.stderr
    result = fake["cli"]("hosts", "provision", INVENTORY="inventories/production", CONFIRM="yes")  # environment
    assert result.code == 2 and "came from the environment, which confirms nothing" in result.stderr


@pytest.mark.parametrize("env, refused", [
    ({"VUS": "499", "ITERATIONS": "1000"}, False),
    ({"VUS": "500"}, True),
    ({}, True),  # the default: the incident's ab -c 500
    ({"CONFIRM_REPRO": "yes"}, False),
    ({"CONFIRM_REPRO": "production", "VUS": "5000", "ITERATIONS": "5000"}, False),
])
def test_the_incidents_load_outside_the_lab_needs_confirm_repro(fake, env, refused):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "load", **on_make_line(INVENTORY="inventories/production", CONFIRM="yes", **env))
    if refused:
        assert result.code == 2 and "is the incident's load (ab -c 500 and more) on app-01" in result.stderr
        assert fake["runs"] == []
    else:
        assert result.code == 0, result.stderr
        assert [name for name, _, _ in fake["runs"]] == ["load.yml"]


def test_the_playbook_runs_against_the_copy_the_guard_read(fake, monkeypatch):
    seen = []
    monkeypatch.setattr(hosts, "_playbook", lambda t, name, extra_vars: seen.append(
        (t.copy, t.copy.is_dir(), (t.copy / "hosts").read_text() == (t.inventory / "hosts").read_text())))
    assert fake["cli"]("hosts", "provision").code == 0
    ((copy, existed, same),) = seen
    assert existed and same and copy.parent.name == ".lab"
    assert not copy.exists()  # removed when the command ended
