"""Static checks of the Ansible tree: inventories list, playbooks syntax-check,
role conventions, and bad input refused before anything starts. No host is
contacted: the production inventory is only listed and syntax-checked."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.helpers import ROOT, VENV_BIN, offline, table
from tests.helpers import clean_env as env

PLAYBOOKS = ["site.yml", "connect.yml", "db.yml", "pgbouncer.yml", "app.yml", "loadgen.yml", "load.yml",
             "investigate.yml", "monitoring.yml", "sampler.yml"]
INVENTORIES = ["lab", "production", "lab-single", "production-single"]
ROLES = ["postgresql", "pgbouncer", "app", "sysctl", "loadgen", "front", "monitoring", "sampler"]
GROUPS = {"db", "pgbouncer", "app", "loadgen"}


def inventory(name: str) -> dict:
    """The inventory as Ansible reads it, where no route but loopback exists (production ones too)."""
    proc = offline([str(VENV_BIN / "ansible-inventory"), "-i", f"inventories/{name}", "--list"],
                   cwd=ROOT, env=env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_lists_one_group_per_role(name):
    data = inventory(name)
    for group in GROUPS:
        assert data[group]["hosts"], f"{name}: group {group} is empty"
    assert set(data["churnlab"]["children"]) == GROUPS


def test_lab_inventory_is_the_lab_network():
    hostvars = inventory("lab")["_meta"]["hostvars"]
    assert set(hostvars) == {"db1", "pgbouncer1", "app1", "loadgen1", "loadgen2"}
    assert all(v["ansible_host"].startswith("192.168.240.") for v in hostvars.values())
    assert hostvars["db1"]["postgresql_package_source"] == "debian"
    assert hostvars["db1"]["postgresql_version"] == 15


def test_production_inventory_is_the_incident_network():
    hostvars = inventory("production")["_meta"]["hostvars"]
    dbs = inventory("production")["db"]["hosts"]
    assert [hostvars[h]["ansible_host"] for h in dbs] == ["10.30.7.7"]
    assert all(v["ansible_host"].startswith("10.30.") for v in hostvars.values())
    assert hostvars[dbs[0]]["postgresql_package_source"] == "pgdg"
    assert hostvars[dbs[0]]["postgresql_version"] == 14


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_header_documents_every_host_variable(name):
    text = (ROOT / "inventories" / name / "hosts").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    used = set(re.findall(r"\s(\w+)=", "\n".join(line for line in text.splitlines() if not line.startswith("#"))))
    assert used, "no host variables found"
    for var in used:
        assert var in header, f"{name}/hosts: host variable {var} is not documented in the header"


@pytest.mark.parametrize("name", INVENTORIES)
def test_group_vars_are_split_by_topic(name):
    base = ROOT / "inventories" / name / "group_vars"
    for group in ("all", *GROUPS):
        files = list((base / group).glob("*.yml"))
        assert files, f"{name}: group_vars/{group}/ has no topic file"
        for f in files:
            yaml.safe_load(f.read_text())


@pytest.mark.parametrize("inv", INVENTORIES)
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(playbook, inv):
    proc = offline([str(VENV_BIN / "ansible-playbook"), "-i", f"inventories/{inv}", f"playbooks/{playbook}",
                    "--syntax-check"], cwd=ROOT, env=env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_site_is_made_of_imports():
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    assert [p["ansible.builtin.import_playbook"] for p in plays] == [
        "connect.yml", "db.yml", "pgbouncer.yml", "app.yml", "loadgen.yml", "monitoring.yml"]


@pytest.mark.parametrize("role", ROLES)
def test_role_layout_and_variables(role):
    base = ROOT / "ansible" / "roles" / role
    for part in ("defaults/main.yml", "meta/argument_specs.yml", "handlers/main.yml", "tasks/main.yml"):
        assert (base / part).is_file(), f"{role}: {part} is missing"
    defaults_text = (base / "defaults" / "main.yml").read_text()
    defaults = yaml.safe_load(defaults_text)
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    lines = defaults_text.splitlines()
    for name in defaults:
        assert name.startswith(f"{role}_"), f"{role}: variable {name} is not role-prefixed"
        assert name in specs, f"{role}: {name} is missing from meta/argument_specs.yml"
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
        assert lines[at - 1].startswith("#"), f"{role}: {name} has no comment above it"


def test_modes_are_quoted_and_modules_fqcn():
    for path in (ROOT / "ansible" / "roles").rglob("*.yml"):
        text = path.read_text()
        for m in re.finditer(r"^\s+mode:\s*(\S+)", text, re.M):
            assert m.group(1).startswith('"'), f"{path}: unquoted mode {m.group(1)}"
        if path.parent.name in ("tasks", "handlers"):
            for task in yaml.safe_load(text) or []:
                modules = [k for k in task if "." in k]
                keys = [k for k in task if k not in ("name", "when", "loop", "loop_control", "register",
                                                     "notify", "become", "become_user", "environment",
                                                     "changed_when", "failed_when", "run_once", "no_log",
                                                     "vars", "until", "retries", "delay", "block", "tags",
                                                     "listen", "delegate_to", "check_mode", "diff", "always", "rescue")]
                assert all("." in k for k in keys), f"{path}: non-FQCN module in {keys}"
                assert modules or "block" in task


def test_postgresql_conf_comes_from_the_shared_file():
    template = (ROOT / "ansible/roles/postgresql/templates/churnlab.conf.j2").read_text()
    assert "postgresql_settings_dir ~ '/postgresql.conf'" in template
    defaults = yaml.safe_load((ROOT / "ansible/roles/postgresql/defaults/main.yml").read_text())
    assert defaults["postgresql_settings_dir"].endswith("/../config/postgresql")


def test_variants_and_profiles_come_from_the_data_file():
    """config/presets.yml is read, not copied: no preset or sysctl is written in
    the playbooks' group_vars or the sysctl role (tests/contract/test_presets_everywhere.py
    proves a change there reaches both sides)."""
    text = (ROOT / "playbooks/group_vars/all/variants.yml").read_text()
    assert "lookup('ansible.builtin.file', churnlab_presets_file) | from_yaml" in text
    assert "churnlab_variant:" not in text and "eventlet" not in text
    defaults = yaml.safe_load((ROOT / "ansible/roles/sysctl/defaults/main.yml").read_text())
    assert defaults["sysctl_profiles"] == {}


BAD_INPUT = table("""
    provision VARIANT=bogus -> unknown variant 'bogus'; valid variants: direct, persistent, gthread
    provision PROFILE=nope -> unknown profile 'nope'; valid profiles: default, repro, tuned
    provision INVENTORY=inventories/missing -> inventory 'inventories/missing' not found
    provision-load SCENARIO=soak -> unknown SCENARIO 'soak'
    provision-load VUS=0 -> VUS='0' must be a whole number from 1 to 5000
    provision-load VUS=600 ITERATIONS=100 -> must be >= VUS
    provision-diagnose DIAG_SECONDS=301 -> DIAG_SECONDS='301' must be a whole number from 1 to 300
    investigate DIAG_SECONDS=0 -> DIAG_SECONDS='0' must be a whole number from 1 to 300
    investigate INVENTORY=inventories/missing -> inventory 'inventories/missing' not found
    investigate LIMIT=app9 -> the limit matches no host of inventories/lab
    investigate LIMIT=db1 -> the limit 'db1' leaves no host of the app group of inventories/lab
    investigate LIMIT=@/etc/hosts -> LIMIT='@/etc/hosts' must be host names or groups of the inventory
    investigate LIMIT=app1 'ANSIBLE_ARGS=--limit app1' -> LIMIT and a --limit in ANSIBLE_ARGS
""")


@pytest.fixture()
def spies(tmp_path):
    """docker, ssh and ansible-inventory that only record being called: whether anything started is
    seen with Docker or without it (comparing the lab hosts' containers was the same [] before and
    after on a machine without Docker)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for tool in ("docker", "ssh"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    environ = env()
    environ["PATH"] = f"{bin_dir}:{environ['PATH']}"
    return environ, log


def spied_make(spies, *args: str):
    environ, log = spies
    proc = offline(["make", "-s", *args], cwd=ROOT, env=environ, timeout=120, stdin=subprocess.DEVNULL)
    return proc, (log.read_text().splitlines() if log.exists() else [])


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_refused_and_starts_nothing(spies, args, message):
    proc, calls = spied_make(spies, *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and "PLAY [" not in proc.stdout
    assert calls == []  # not even a look at the lab hosts through Docker, no ssh


def test_the_spies_see_what_a_good_input_starts(spies):
    """The check above can fail without Docker: a good provision looks at the lab hosts through Docker
    before anything else (here the spy answers that none run, so it stops there, without ssh)."""
    proc, calls = spied_make(spies, "provision")
    assert proc.returncode == 2 and "the lab hosts are not up" in proc.stderr, proc.stderr
    assert calls and all(call.startswith("docker ps") for call in calls), calls


@pytest.mark.parametrize("name, address", [("lab-single", "192.168.240.11"), ("production-single", "10.30.7.7")])
def test_single_host_inventories_put_the_app_and_postgres_on_one_host(name, address):
    data = inventory(name)
    hostvars = data["_meta"]["hostvars"]
    assert data["app"]["hosts"] == data["db"]["hosts"] == data["pgbouncer"]["hosts"]
    assert [hostvars[h]["ansible_host"] for h in data["db"]["hosts"]] == [address]


@pytest.mark.parametrize("name, variant, profile", [
    ("lab", "direct", "repro"), ("lab-single", "direct", "repro"),
    ("production", "gthread", "tuned"), ("production-single", "gthread", "tuned")])
def test_each_inventory_holds_its_own_variant_and_profile(name, variant, profile):
    data = inventory(name)
    hostvars = data["_meta"]["hostvars"]
    app = data["app"]["hosts"][0]
    assert hostvars[app]["churnlab_variant"] == variant
    assert hostvars[app]["sysctl_profile"] == profile


def test_host_loads_export_the_k6_dashboard_as_compose_loads_do():
    """k6's dashboard: the same settings on hosts as in the compose lab (no
    server, no REST API), written and fetched under run_record.DASHBOARD."""
    from churnlab.core import run_record
    from churnlab.load import run as loadrun

    play = yaml.safe_load((ROOT / "playbooks/load.yml").read_text())[0]
    block = next(t for t in play["tasks"] if "block" in t)
    tasks = block["block"] + block["always"]
    k6 = next(t for t in tasks if t["name"] == "Run k6")
    env_k6 = k6["environment"]
    assert {k: env_k6[k] for k in loadrun.k6.K6_DASHBOARD_ENV} == loadrun.k6.K6_DASHBOARD_ENV
    assert env_k6["K6_WEB_DASHBOARD_EXPORT"].endswith("/" + run_record.DASHBOARD)
    assert all(arg in k6["ansible.builtin.shell"]["cmd"].split() for arg in loadrun.k6.K6_NO_API_ARGS)
    fetch = next(t for t in tasks if t["name"] == "Fetch k6's files")
    assert run_record.DASHBOARD in fetch["loop"]
