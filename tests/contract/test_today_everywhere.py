"""Today's stack reaches the hosts as it reaches the compose lab: the Ansible
app role installs the variant's lock and gets the same psycopg 3 settings
churnlab/core/catalog.py writes into the compose overlay."""
import json

import pytest
import yaml

from churnlab.core import catalog
from churnlab.core.paths import ROOT
from tests.helpers import clean_env, offline


def _ansible(variant: str, tmp_path) -> dict:
    # The role's defaults, minus what the variant sets (an extra var would beat group_vars).
    defaults = yaml.safe_load((ROOT / "ansible/roles/app/defaults/main.yml").read_text())
    for key in yaml.safe_load((ROOT / "playbooks/group_vars/app/variant.yml").read_text()):
        defaults.pop(key, None)
    (tmp_path / "defaults.yml").write_text(yaml.safe_dump(defaults))
    expr = "{{ {'lock': app_requirements_file, 'env': app_environment, 'reqs': app_requirements} | to_json }}"
    proc = offline(["ansible", "app1", "-i", "inventories/lab", "--playbook-dir", "playbooks", "-c", "local",
                    "-e", f"churnlab_variant={variant}", "-e", "sysctl_profile=repro",
                    "-e", "@ansible/roles/app/vars/main.yml", "-e", f"@{tmp_path / 'defaults.yml'}",
                    "-e", f"app_src_dir={ROOT / 'app'}",
                    "-m", "ansible.builtin.debug", "-a", f"msg={expr}", "-o"],
                   cwd=ROOT, env={**clean_env(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
                   timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    msg = json.loads(proc.stdout.split("=>", 1)[1])["msg"]
    return json.loads(msg) if isinstance(msg, str) else msg


@pytest.mark.parametrize("variant", ["direct", "gevent", "gevent-pool", "native-pool-small", "pgbouncer-today-fixed"])
def test_hosts_install_the_variants_lock_with_the_same_settings(variant, tmp_path):
    got = _ansible(variant, tmp_path)
    preset = catalog.variant(variant)
    lock = preset.get("app_lock", catalog.INCIDENT_LOCK)
    assert got["lock"] == lock
    pinned = [line for line in (ROOT / "app" / lock).read_text().splitlines() if line and not line.startswith("#")]
    assert got["reqs"] == pinned
    expected = catalog.today_environment(preset)
    ours = {k: v for k, v in got["env"].items() if k.startswith("DB_") and k not in
            ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD_FILE")}
    assert ours == expected
    assert got["env"]["WORKER_CLASS"] == preset["worker_class"]
    assert got["env"]["CONN_MAX_AGE"] == str(preset["conn_max_age"])
