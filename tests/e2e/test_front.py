"""FRONT=https on the real engine: nginx terminates TLS before gunicorn, the
lab remembers the front, the load goes through it and run.json says so, and
lab-down leaves nothing (the incident's `ab ... https://...`)."""
import json
import ssl
import subprocess
import urllib.request

import pytest

from churnlab.compose import lab
from churnlab.compose.stack import project_containers, project_networks
from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import RESULTS_DIR, ROOT
from tests.helpers import clean_env

pytestmark = pytest.mark.e2e


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True)


def test_https_front_serves_the_load_and_run_json_records_it(built):
    lab.down()
    try:
        up = make("lab-up", "VARIANT=gthread", "PROFILE=default", "FRONT=https", "HTTPS_PORT=18443")
        assert up.returncode == 0, up.stdout + up.stderr
        # TLS on loopback, with the generated self-signed certificate.
        context = ssl.create_default_context(cafile=str(ROOT / ".secrets" / "front_cert"))
        context.check_hostname = False  # the certificate names front, localhost and 127.0.0.1
        with urllib.request.urlopen("https://127.0.0.1:18443/api/v1/ping/", context=context, timeout=10) as resp:
            assert resp.status == 200
        # The key is handed over as a secret file, never in a container's environment.
        front = [name for name in project_containers() if "front" in name]
        env = subprocess.run(["docker", "inspect", "--format", "{{json .Config.Env}}", *front],
                             capture_output=True, text=True, check=True).stdout
        assert "PRIVATE KEY" not in env and lab_secrets.compose_env()["CHURNLAB_SECRET_FRONT_KEY"] not in env
        before = set(RESULTS_DIR.glob("*-https"))
        load = make("load", "VUS=20", "ITERATIONS=300")  # FRONT is not named again: the lab remembers it
        assert load.returncode == 0, load.stdout + load.stderr
        (run_dir,) = set(RESULTS_DIR.glob("*-https")) - before
        record = json.loads((run_dir / "run.json").read_text())
        assert record["selection"]["front"] == "https" and record["load"]["target"] == "https://front:8443"
        assert record["summary"]["requests"] == 300 and record["summary"]["error_rate"] == 0, record["summary"]
        assert record["verdict"]["case"] == "healthy", record["verdict"]
    finally:
        down = make("lab-down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert project_containers() == [] and project_networks() == []
