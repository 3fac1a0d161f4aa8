"""What actually ran: image IDs and the versions reported by the running parts.

The app's package versions come from evidence/app_versions.py, the same text
playbooks/load.yml runs on an app host. A part that does not answer is
recorded as a problem, never an exception: the run's record is written anyway."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from churnlab.compose.stack import Stack

APP_VERSIONS_SCRIPT = Path(__file__).parents[1] / "evidence" / "app_versions.py"


def parse_app(stdout: str) -> dict:
    """The app's versions from the snippet's output (its last line of JSON)."""
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def _out(proc: subprocess.CompletedProcess, what: str, problems: list[str]) -> str:
    if proc.returncode != 0:
        problems.append(f"versions: {what} failed (exit {proc.returncode}): "
                        f"{(proc.stderr or '').strip()[-200:]}")
        return ""
    return proc.stdout.strip()


def collect(stack: Stack, services: list[str]) -> tuple[dict, list[str]]:
    """(versions, problems): whatever answered, and what did not."""
    versions: dict = {}
    problems: list[str] = []
    if "app" in services:
        raw = _out(stack.exec("app", "python3", "-c", APP_VERSIONS_SCRIPT.read_text()), "the app", problems)
        versions["app"] = parse_app(raw) if raw else {}
    if "db" in services:
        versions["postgres"] = _out(stack.exec("db", "psql", "-XAtq", "-U", "lab", "-d", "lab",
                                               "-c", "SHOW server_version"), "postgres", problems)
    if "pgbouncer" in services:
        versions["pgbouncer"] = _out(stack.exec("pgbouncer", "pgbouncer", "--version"),
                                     "pgbouncer", problems).splitlines()[0:1]
    images = stack.run("--profile", "load", "images", "--format", "json", capture=True, check=False)
    try:
        versions["images"] = {i["ContainerName"]: f'{i["Repository"]}:{i["Tag"]}@{i["ID"][:19]}'
                              for i in json.loads(images.stdout or "[]")}
    except (json.JSONDecodeError, KeyError, TypeError):
        versions["images"] = {}
        problems.append("versions: `docker compose images` gave no readable answer")
    try:
        versions["k6_image"] = stack.config("load")["services"]["k6"]["image"]
    except Exception as exc:  # noqa: BLE001 - recorded, never raised
        problems.append(f"versions: the k6 image is unknown: {exc}")
    return versions, problems
