"""Front-door behaviour on the real engine: idempotent up, clean down, and bad
input that starts nothing."""
import re
import socket
import stat
import subprocess
import urllib.request

import pytest

from churnlab.compose import lab
from churnlab.compose.stack import Stack, project_containers, project_networks
from churnlab.core import catalog
from churnlab.core import secrets as lab_secrets
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT, SECRETS_DIR
from tests.helpers import clean_env

# No load, no time measured: make test runs these last, beside the hosts' loads (tests/e2e/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.no_load]


def _container_ids():
    proc = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=churnlab"],
                          capture_output=True, text=True, check=True)
    return sorted(proc.stdout.split())


def test_up_twice_changes_nothing_and_down_leaves_nothing(built):
    lab.down()
    stack = lab.up(catalog.Selection.of("pgbouncer", "default"))
    first = _container_ids()
    assert len(first) == 4  # db, migrate (exited), pgbouncer, app
    # The secrets stay private on the host, and the non-root services read them.
    (SECRETS_DIR / "db_password").chmod(0o644)  # a wider mode, as earlier versions left it
    for service in ("db", "pgbouncer", "app"):
        uid = stack.exec(service, "id", "-u").stdout.strip()
        assert uid.isdigit() and uid != "0", (service, uid)
        assert stack.exec(service, "test", "-r", "/run/secrets/db_password").returncode == 0, service
    env = subprocess.run(["docker", "inspect", "--format", "{{json .Config.Env}}", *first], capture_output=True,
                         text=True, check=True).stdout
    assert lab_secrets.compose_env()["CHURNLAB_SECRET_DB_PASSWORD"] not in env
    proc = subprocess.run(["make", "-s", "lab-up", "VARIANT=pgbouncer", "PROFILE=default"],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert _container_ids() == first
    assert stat.S_IMODE(SECRETS_DIR.stat().st_mode) == 0o700
    assert {stat.S_IMODE((SECRETS_DIR / n).stat().st_mode) for n in lab_secrets.NAMES} == {0o600}
    # The app answers on loopback only.
    with urllib.request.urlopen("http://127.0.0.1:8000/api/v1/healthz/", timeout=10) as response:
        assert response.status == 200
    subprocess.run(["make", "-s", "lab-down"], cwd=ROOT, env=clean_env(), check=True, capture_output=True)
    assert project_containers() == [] and project_networks() == []


def test_bad_variant_starts_nothing(built):
    lab.down()
    proc = subprocess.run(["make", "-s", "lab-up", "VARIANT=pgbouncer-remote"], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "unknown variant 'pgbouncer-remote'" in proc.stderr
    assert project_containers() == [] and project_networks() == []


def test_port_in_use_is_refused_before_anything_starts(built):
    lab.down()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabError, match=f"127.0.0.1:{port} is already in use"):
            lab.up(catalog.Selection.of("direct", "repro"), app_port=port)
    assert project_containers() == []


def test_load_without_a_lab_says_so(built):
    lab.down()
    proc = subprocess.run(["make", "-s", "load"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "the lab is not up" in proc.stderr


def test_a_volume_of_another_major_is_recreated_not_crash_looped(built):
    """PG_MAJOR switched (15 -> the default 14): the old cluster cannot be
    opened. The image says so in one line; lab-up drops the volume and comes up."""
    lab.down(volumes=True)
    stack = Stack(catalog.Selection.of("direct", "default"))
    stack.run("create", "db", capture=True)  # the volume as compose makes it; nothing runs
    image = stack.config()["services"]["db"]["image"]
    mount = ["-v", f"{lab.PGDATA_VOLUME}:/var/lib/postgresql/data"]
    docker_run = ["docker", "run", "--rm", "--network", "none", *mount]
    # What a 15 cluster leaves: its major in PG_VERSION (the only thing either check reads).
    subprocess.run([*docker_run, "--user", "0", "--entrypoint", "bash", image, "-c",
                    "echo 15 > /var/lib/postgresql/data/PG_VERSION"], check=True, capture_output=True)
    refused = subprocess.run([*docker_run, "-e", "POSTGRES_PASSWORD=unused", image],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "initialised by PostgreSQL 15; this image runs 14" in refused.stderr
    stack = lab.up(catalog.Selection.of("direct", "default"))
    version = stack.exec("db", "psql", "-XAtq", "-U", "lab", "-d", "lab", "-c", "SHOW server_version")
    assert re.fullmatch(r"14\.\d+", version.stdout.strip()), (version.stdout, version.stderr)
    lab.down()
    assert project_containers() == [] and project_networks() == []
