"""What actually ran: image IDs and the versions reported by the running parts."""
from __future__ import annotations

import json
import subprocess

from churnlab.compose_stack import Stack

APP_PACKAGES = ("django", "rest_framework", "psycopg2", "gunicorn", "eventlet")
_APP_SNIPPET = (
    "import importlib,json;"
    f"print(json.dumps({{m: importlib.import_module(m).__version__.split()[0] for m in {APP_PACKAGES!r}}}))"
)


def _out(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout.strip() if proc.returncode == 0 else ""


def collect(stack: Stack, services: list[str]) -> dict:
    versions: dict = {}
    if "app" in services:
        raw = _out(stack.exec("app", "python3", "-c", _APP_SNIPPET))
        versions["app"] = json.loads(raw) if raw else {}
    if "db" in services:
        versions["postgres"] = _out(stack.exec("db", "psql", "-XAtq", "-U", "lab", "-d", "lab",
                                               "-c", "SHOW server_version"))
    if "pgbouncer" in services:
        versions["pgbouncer"] = _out(stack.exec("pgbouncer", "pgbouncer", "--version")).splitlines()[0:1]
    images = stack.run("--profile", "load", "images", "--format", "json", capture=True, check=False)
    try:
        versions["images"] = {i["ContainerName"]: f'{i["Repository"]}:{i["Tag"]}@{i["ID"][:19]}'
                              for i in json.loads(images.stdout or "[]")}
    except (json.JSONDecodeError, KeyError, TypeError):
        versions["images"] = {}
    k6_image = stack.config("load")["services"]["k6"]["image"]
    versions["k6_image"] = k6_image
    return versions
