"""`make investigate` through the CLI, in-process, with its two boundaries faked (the inventory's
listing and ansible-playbook): what the guard decides for it, LIMIT, and where its snapshots go.
The production inventory reaches the guard here: no process may start (no_processes), and no socket
may leave loopback (conftest's no_route_but_loopback). The same refusal through make, in a network
namespace with only loopback, is tests/contract/test_production_guard.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from churnlab.core.errors import LabError
from churnlab.hosts import guard as hosts_guard
from churnlab.hosts import inventory as hosts
from churnlab.hosts import investigate
from tests.helpers import env_table
from tests.unit.test_hosts_front import LAB, PROD, assert_refused, on_make_line

pytestmark = pytest.mark.usefixtures("no_processes")


def limited(hosts_list, extra):
    """The hosts as the guard lists them, each within the run's --limit or not (names, comma-separated)."""
    limit = hosts_guard.select(extra, hosts_guard.LIMIT_OPTIONS)
    names = set(limit[-1].split(",")) if limit else {h.name for h in hosts_list}
    return [hosts_guard.Host(h.name, h.address, h.groups, h.hostvars, h.why, h.name in names) for h in hosts_list]


@pytest.fixture()
def fake(monkeypatch, cli, tmp_path):
    """The inventory's hosts, the running lab hosts, the probe file, results/ and what ansible-playbook got."""
    state = {"hosts": LAB, "running": {h.address: h.name for h in LAB}, "runs": []}

    def resolve(copy, extra, label=""):
        found = limited(state["hosts"], extra)
        if not any(h.limited for h in found):
            raise LabError(f"the limit matches no host of {label}")
        return found

    monkeypatch.setattr(hosts_guard, "resolve_hosts", resolve)
    monkeypatch.setattr(hosts_guard, "running_lab_hosts", lambda: state["running"])
    monkeypatch.setattr(hosts, "_playbook",
                        lambda t, name, extra_vars: state["runs"].append((name, extra_vars, t.extra)))
    monkeypatch.setattr(investigate, "probe_file", lambda: tmp_path / "churnlab-investigate.pyz")
    monkeypatch.setattr(investigate, "RESULTS_DIR", tmp_path / "results")
    state["cli"] = cli
    return state


def test_production_is_refused_without_confirm_before_anything(fake):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "investigate", **on_make_line(INVENTORY="inventories/production"))
    assert_refused(fake, result, "reaches hosts outside the lab network")
    assert "Rerun with CONFIRM=yes (or CONFIRM=production) on the command line" in result.stderr


def test_an_exported_confirm_confirms_nothing(fake):
    fake["hosts"] = PROD
    result = fake["cli"]("hosts", "investigate", INVENTORY="inventories/production", CONFIRM="yes", MAKELEVEL="1",
                         CHURNLAB_GIVEN="INVENTORY")
    assert result.code == 2 and "came from the environment, which confirms nothing" in result.stderr
    assert fake["runs"] == []


def test_with_confirm_it_runs_without_confirm_repro(fake, tmp_path):
    """It changes nothing, so the incident's settings of an inventory ask for no CONFIRM_REPRO."""
    fake["hosts"] = [hosts_guard.Host("app-01", "10.30.8.11", ("app",),
                                      {"churnlab_variant": "direct", "sysctl_profile": "repro"}), *PROD[1:]]
    result = fake["cli"]("hosts", "investigate", **on_make_line(INVENTORY="inventories/production", CONFIRM="yes"))
    assert result.code == 0, result.stderr
    assert "CONFIRM_REPRO" not in result.stderr
    ((name, extra_vars, extra),) = fake["runs"]
    assert name == "investigate.yml" and extra == []
    assert extra_vars["investigate_seconds"] == 5
    assert extra_vars["investigate_probe"] == str(tmp_path / "churnlab-investigate.pyz")
    folder = tmp_path / "results" / extra_vars["investigate_fetch_dir"].rsplit("/", 1)[-1]
    assert folder.is_dir() and folder.name.startswith("investigate-") and folder.stat().st_mode & 0o777 == 0o700
    assert "no snapshot from: app-01" in result.stderr


def test_the_guard_alone_decides_for_an_investigation_without_connecting(fake):
    """The decision itself: outside, confirmed, no CONFIRM_REPRO asked (no variant, profile or load named)."""
    fake["hosts"] = PROD
    confirmed = hosts_guard.Consent(hosts_guard.Word("CONFIRM", "yes", True))
    source = hosts_guard.inventory_dir("inventories/production")
    decision = hosts_guard.check(source, source, [], consent=confirmed, group="app")
    assert not decision.lab and [h.name for h in decision.outside] == ["app-01", "db-01"]
    with pytest.raises(LabError, match="Rerun with CONFIRM=yes"):
        hosts_guard.check(source, source, [], group="app")


def test_limit_reaches_ansible_as_its_limit(fake):
    result = fake["cli"]("hosts", "investigate", LIMIT="app1", DIAG_SECONDS="2")
    assert result.code == 0, result.stderr
    ((name, extra_vars, extra),) = fake["runs"]
    assert extra == ["--limit", "app1"] and extra_vars["investigate_seconds"] == 2


@pytest.mark.parametrize("env, message", env_table("""
    LIMIT=nosuch -> the limit matches no host of inventories/lab
    LIMIT=db1 -> the limit 'db1' leaves no host of the app group of inventories/lab
    LIMIT=@/etc/hosts -> LIMIT='@/etc/hosts' must be host names or groups of the inventory
    'LIMIT=app1 --check' -> LIMIT='app1 --check' must be host names or groups
    LIMIT=--forks=99 -> must be host names or groups
    LIMIT=app1 'ANSIBLE_ARGS=--limit app1' -> LIMIT and a --limit in ANSIBLE_ARGS
    DIAG_SECONDS=0 -> DIAG_SECONDS='0' must be a whole number from 1 to 300
    INVENTORY=inventories/missing -> inventory 'inventories/missing' not found
"""))
def test_bad_input_starts_nothing(fake, env, message):
    assert_refused(fake, fake["cli"]("hosts", "investigate", **env), message)


def test_provision_diagnose_is_the_same_investigation(fake):
    result = fake["cli"]("hosts", "diagnose", DIAG_SECONDS="1")
    assert result.code == 0, result.stderr
    assert [run[0] for run in fake["runs"]] == ["investigate.yml"]


def test_each_fetched_snapshot_is_made_owner_only_and_its_verdict_printed(fake, monkeypatch):
    """What fetch left (its own mode) becomes 0600; the report is the one `make diagnose SNAPSHOT=` prints."""
    from churnlab.investigate import snapshot

    def fetched(t, name, extra_vars):
        path = f"{extra_vars['investigate_fetch_dir']}/app1.json"
        snapshot.write(path, snapshot.Snapshot(host="app1", seconds=extra_vars["investigate_seconds"]))
        Path(path).chmod(0o644)
        fake["runs"].append(name)

    monkeypatch.setattr(hosts, "_playbook", fetched)
    result = fake["cli"]("hosts", "investigate")
    assert result.code == 0, result.stderr
    (path,) = (investigate.RESULTS_DIR).glob("investigate-*/app1.json")
    assert path.stat().st_mode & 0o777 == 0o600
    assert result.stdout.startswith(f"== app1 ({path.parent.parent.name}/{path.parent.name}/app1.json)\nhost app1,")
    assert "\nverdict (" in result.stdout and "no snapshot from" not in result.stderr
