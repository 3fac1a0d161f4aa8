"""Bring the lab up and down; remember what is up in .lab/state.json."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

from churnlab import lab_secrets
from churnlab.catalog import Selection
from churnlab.compose_stack import Stack, port_is_free, project_containers, project_networks, require_docker
from churnlab.errors import LabError
from churnlab.images import build_all
from churnlab.paths import STATE_DIR, STATE_FILE
from churnlab.terminal import console, run_logged

PGDATA_VOLUME = "churnlab_pgdata"


def _volume_exists(name: str) -> bool:
    return subprocess.run(["docker", "volume", "inspect", name], capture_output=True).returncode == 0


def read_state() -> dict | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(stack: Stack) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    state = {**stack.selection.as_dict(), "app_port": stack.app_port,
             "front": stack.front, "https_port": stack.https_port, "front_keepalive": stack.front_keepalive,
             "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def current_stack() -> Stack:
    """The stack that `up` last started, or a clear error if none is running."""
    state = read_state()
    if not state:
        raise LabError("the lab is not up: run `make lab-up VARIANT=.. PROFILE=..` first")
    stack = Stack(Selection.of(state["variant"], state["profile"], state.get("knobs")),
                  app_port=int(state.get("app_port", 8000)), front=state.get("front", "none"),
                  https_port=int(state.get("https_port", 8443)), front_keepalive=int(state.get("front_keepalive", 0)))
    if "app" not in stack.running_services():
        raise LabError(f"the lab ({state['variant']} + {state['profile']}) is not running: "
                       "run `make lab-up` again")
    return stack


def _app_port_owner(port: int) -> bool:
    """True if our own app container publishes the port."""
    proc = subprocess.run(["docker", "ps", "--filter", "label=com.docker.compose.project=churnlab",
                           "--filter", f"publish={port}", "--format", "{{.Names}}"],
                          capture_output=True, text=True)
    return bool(proc.stdout.strip())


def up(selection: Selection, app_port: int = 8000, front: str = "none", https_port: int = 8443,
       front_keepalive: int = 0) -> Stack:
    """Start (or converge) the lab on a variant + profile (and front). Safe to run twice."""
    require_docker()
    stack = Stack(selection, app_port=app_port, front=front, https_port=https_port, front_keepalive=front_keepalive)
    if front == "https" and https_port == app_port:
        raise LabError(f"HTTPS_PORT and APP_PORT are both {app_port}: choose two ports")
    ports = {"APP_PORT": app_port, **({"HTTPS_PORT": https_port} if front == "https" else {})}
    for name, port in ports.items():
        if not port_is_free(port) and not _app_port_owner(port):
            raise LabError(f"127.0.0.1:{port} is already in use by another program; "
                           f"free it or choose another with {name}=<port>")
    created = lab_secrets.ensure() + (lab_secrets.ensure_front_tls() if front == "https" else [])
    stack.config()  # the overlays resolve, before anything starts
    if created:
        console.print(f"generated secrets in .secrets/: {', '.join(created)}")
        if "db_password" in created and _volume_exists(PGDATA_VOLUME):
            # Made with another password (another checkout, or .secrets/ deleted).
            down()
            subprocess.run(["docker", "volume", "rm", PGDATA_VOLUME], capture_output=True, check=False)
            console.print(f"removed {PGDATA_VOLUME}: it was initialised with an older password")
    build_all()  # cached layers make this quick; a changed Dockerfile or app is picked up
    previous = read_state()
    if previous and project_containers() and (
            previous.get("variant"), previous.get("profile"), previous.get("knobs"), previous.get("app_port"),
            previous.get("front", "none"), previous.get("https_port", 8443), previous.get("front_keepalive", 0)) != (
            selection.variant, selection.profile, selection.knobs, app_port, front, https_port, front_keepalive):
        console.print(f"switching from {previous['variant']} + {previous['profile']}: "
                      "taking the previous stack down first")
        down()
    run_logged(stack.argv("up", "--detach", "--wait", "--no-build", "--pull", "never", "--remove-orphans"),
               f"lab up: {selection.variant} + {selection.profile}" + (f", FRONT={front}" if front != "none" else ""),
               STATE_DIR / "up.log", env=stack.env())
    _write_state(stack)
    return stack


def down(volumes: bool = False) -> None:
    """Remove every container and network of the lab (and volumes if asked)."""
    require_docker()
    state = read_state() or {}
    try:
        selection = Selection.of(state.get("variant", "direct"), state.get("profile", "default"))
    except LabError:  # a variant since removed from config/presets.yml: base.yml names every service
        selection = Selection.of("direct", "default")
    stack = Stack(selection)
    args = ["--profile", "pgbouncer", "--profile", "front", "--profile", "load",
            "down", "--remove-orphans", "--timeout", "10"]
    if volumes:
        args.append("--volumes")
    run_logged(stack.argv(*args), "lab down" + (" (with volumes)" if volumes else ""),
               STATE_DIR / "down.log", env=stack.env())
    leftovers = project_containers() + project_networks()
    if leftovers:
        raise LabError(f"lab down left these behind: {', '.join(leftovers)}")
    STATE_FILE.unlink(missing_ok=True)
