"""The HTTPS front on the lab hosts (the front role, issue 9): a dry run on a
host without nginx, a converge with churnlab_front=https, a second one that
changes nothing, TLS from loadgen1 to app1 through nginx, the key root-only,
a load from loadgen1 goes through the front (load.yml reads its local fact),
then churnlab_front=none takes the front away. Its own hosts session."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.helpers import ROOT, VENV_BIN, lab_host_containers, make, recap
from tests.helpers import clean_env as env
from tests.hosts.conftest import LAB_HOSTS, ssh

pytestmark = [pytest.mark.e2e, pytest.mark.hosts]
URL = f"https://{LAB_HOSTS['app1']}/api/v1/healthz/"


def app_play(*args: str) -> tuple[dict, str]:
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "inventories/lab", "playbooks/app.yml",
                           "-e", "churnlab_variant=gthread", "-e", "sysctl_profile=default", *args],
                          stdin=subprocess.DEVNULL, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"app.yml {args} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return recap(proc.stdout), proc.stdout


# The lab hosts have no curl: Python's own client, the certificate not checked
# (self-signed), "000" when nothing answers.
GET = ("import ssl, sys, urllib.request as u\n"
       "try:\n"
       "    print(u.urlopen(sys.argv[1], context=ssl._create_unverified_context(), timeout=10).status)\n"
       "except Exception:\n"
       "    print('000')\n")


def status(host: str, url: str) -> str:
    return ssh(host, f"python3 - {url}", stdin=GET).stdout.strip()


def https_status() -> str:
    return status("loadgen1", URL)


@pytest.fixture(scope="module")
def hosts():
    make("hosts-down", timeout=180)
    make("hosts-up", timeout=600, check=True)
    make("provision", "INVENTORY=inventories/lab", "VARIANT=gthread", "PROFILE=default", timeout=900, check=True)
    yield
    proc = make("hosts-down", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert lab_host_containers() == []


def test_the_https_front_converges_serves_tls_and_goes_away(hosts):
    dry, _ = app_play("-e", "churnlab_front=https", "--check", "--diff")
    assert dry["app1"]["failed"] == 0
    assert https_status() == "000"  # nothing listens on 443 yet: the dry run changed nothing

    first, _ = app_play("-e", "churnlab_front=https")
    assert first["app1"]["failed"] == 0 and first["app1"]["changed"] > 0
    second, out = app_play("-e", "churnlab_front=https")
    assert second["app1"]["changed"] == 0, out[-4000:]
    assert https_status() == "200"
    modes = ssh("app1", "stat -c '%a %U' /etc/churnlab/front /etc/churnlab/front/front.key").stdout.split()
    assert modes == ["700", "root", "600", "root"], modes
    # gunicorn behind it still answers on its own port (the front is an addition).
    assert status("loadgen1", f"http://{LAB_HOSTS['app1']}:8000/api/v1/ping/") == "200"
    # A load goes through the front by itself: load.yml reads the front's local fact.
    before = set((ROOT / "results").glob("*-ab-c50"))
    proc = make("provision-load", "INVENTORY=inventories/lab", "VUS=50", "ITERATIONS=500", timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    new = sorted(set((ROOT / "results").glob("*-ab-c50")) - before)
    assert len(new) == 1, new
    run = json.loads((new[0] / "run.json").read_text())
    assert run["selection"]["front"] == "https"
    assert run["load"]["target"] == f"https://{LAB_HOSTS['app1']}:443"
    assert run["summary"]["requests"] == 500 and run["summary"]["error_rate"] == 0, run["summary"]

    off, _ = app_play("-e", "churnlab_front=none")
    assert off["app1"]["changed"] > 0
    assert https_status() == "000"
    assert ssh("app1", "test -e /etc/ansible/facts.d/churnlab_front.fact").returncode == 1  # loads go to gunicorn again
