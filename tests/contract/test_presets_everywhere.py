"""One preset changed in a copy of config/presets.yml changes the compose lab
and the Ansible variables alike: both read that file and nothing else."""
import json

import yaml

from churnlab.compose.stack import Stack
from churnlab.core import catalog
from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import PRESETS_FILE, ROOT
from tests.helpers import clean_env, offline


def ansible_vars(env: dict[str, str], *names: str) -> dict:
    expr = "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}"
    proc = offline(["ansible", "app1", "-i", "inventories/lab", "--playbook-dir", "playbooks", "-c", "local",
                    "-e", "churnlab_variant=gthread", "-e", "sysctl_profile=repro",
                    "-m", "ansible.builtin.debug", "-a", f"msg={expr}", "-o"],
                   cwd=ROOT, env={**env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
                   timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = proc.stdout.split("=>", 1)[1]
    return json.loads(json.loads(payload)["msg"]) if isinstance(json.loads(payload)["msg"], str) \
        else json.loads(payload)["msg"]


def compose_app(monkeypatch, presets_path=None) -> dict:
    if presets_path:
        monkeypatch.setenv("CHURNLAB_PRESETS", str(presets_path))
    else:
        monkeypatch.delenv("CHURNLAB_PRESETS", raising=False)
    return Stack(catalog.Selection.of("gthread", "repro")).config()["services"]["app"]


def test_one_change_in_the_data_file_reaches_compose_and_ansible(tmp_path, monkeypatch):
    lab_secrets.ensure()
    data = yaml.safe_load(PRESETS_FILE.read_text())
    data["variants"]["gthread"]["workers"] = 7
    data["profiles"]["repro"]["sysctls"]["net.ipv4.ip_local_port_range"] = "40000 40499"
    copy = tmp_path / "presets.yml"
    copy.write_text(yaml.safe_dump(data))
    names = ("app_workers", "app_threads", "app_worker_class", "app_conn_max_age", "sysctl_profiles")

    before_compose = compose_app(monkeypatch)
    before_ansible = ansible_vars(clean_env(), *names)
    after_compose = compose_app(monkeypatch, copy)
    after_ansible = ansible_vars(clean_env(CHURNLAB_PRESETS=str(copy)), *names)

    assert before_compose["environment"]["WORKERS"] == "20" and int(before_ansible["app_workers"]) == 20
    assert after_compose["environment"]["WORKERS"] == "7" and int(after_ansible["app_workers"]) == 7
    ports = "net.ipv4.ip_local_port_range"
    assert before_compose["sysctls"][ports] == before_ansible["sysctl_profiles"]["repro"][ports] == "50000 50999"
    assert after_compose["sysctls"][ports] == after_ansible["sysctl_profiles"]["repro"][ports] == "40000 40499"
    # Everything else is the same on both sides.
    for side in (before_ansible, after_ansible):
        assert (side["app_worker_class"], int(side["app_threads"]), int(side["app_conn_max_age"])) == \
            ("gthread", 40, 600)
    assert before_ansible["sysctl_profiles"]["tuned"] == after_ansible["sysctl_profiles"]["tuned"] == \
        {k: str(v) for k, v in data["profiles"]["tuned"]["sysctls"].items()}


def test_each_inventory_chooses_its_own_variant():
    """No variant in playbooks/group_vars (it would beat the inventory's)."""
    for inventory, variant, profile in (("inventories/lab", "direct", "repro"),
                                        ("inventories/production", "gthread", "tuned")):
        proc = offline(["ansible", "app", "-i", inventory, "--playbook-dir", "playbooks", "-c", "local",
                        "-m", "ansible.builtin.debug", "-a", "msg={{ [churnlab_variant, sysctl_profile] }}", "-o"],
                       cwd=ROOT, env={**clean_env(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                                      "ANSIBLE_NOCOLOR": "1"}, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f'"{variant}"' in proc.stdout and f'"{profile}"' in proc.stdout, proc.stdout
    assert "churnlab_variant:" not in (ROOT / "playbooks/group_vars/all/variants.yml").read_text()
