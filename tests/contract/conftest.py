"""Contract tests: our files against the real tools (docker compose config,
k6, ansible, make, pip), without starting a container or contacting a host."""
import os
import shutil
import subprocess

import pytest

from churnlab.paths import ROOT

VENV_BIN = ROOT / ".venv" / "bin"
LAB_VARIABLES = ("VARIANT", "PROFILE", "WORKER_CLASS", "WORKERS", "THREADS", "CONN_MAX_AGE", "APP_PORT", "SCENARIO",
                 "VUS", "ITERATIONS", "KEEPALIVE", "ENDPOINT", "SAMPLE_INTERVAL", "RUN", "DIAG_SECONDS", "VARIANTS",
                 "PROFILES", "VUS_LEVELS", "SERVICE", "PGBOUNCER_POOL_SIZE", "CHURNLAB_PRESETS", "CONFIRM",
                 "INVENTORY", "ANSIBLE_ARGS")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAB_VARIABLES}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def offline(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv with no route but loopback when the kernel lets us (unshare
    --net as root), so an Ansible bug could never send a packet."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        argv = ["unshare", "--net", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


@pytest.fixture(autouse=True)
def _no_inherited_lab_variables(monkeypatch):
    for name in LAB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
