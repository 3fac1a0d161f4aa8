"""Bring the lab up and down; remember what is up in .lab/state.json."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

from churnlab.compose.images import build_all
from churnlab.compose.stack import (
    ALL_PROFILES,
    Stack,
    image_exists,
    port_is_free,
    profile_flags,
    project_containers,
    project_networks,
    require_docker,
)
from churnlab.core import secrets as lab_secrets
from churnlab.core.catalog import Selection
from churnlab.core.console import console, run_logged
from churnlab.core.errors import LabError
from churnlab.core.paths import STATE_DIR, STATE_FILE

PGDATA_VOLUME = "churnlab_pgdata"


def _volume_exists(name: str) -> bool:
    return subprocess.run(["docker", "volume", "inspect", name], capture_output=True).returncode == 0


def _env_of(image: str) -> dict[str, str]:
    proc = subprocess.run(["docker", "image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}",
                           image], capture_output=True, text=True)
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _volume_major(image: str) -> str:
    """The PostgreSQL major that initialised the data volume ('' if none did),
    read through the db image itself: a cluster is opened only by its own major."""
    if not _volume_exists(PGDATA_VOLUME):
        return ""
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "cat",
                           "-v", f"{PGDATA_VOLUME}:/pgdata:ro", image, "/pgdata/PG_VERSION"],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _drop_volume(why: str) -> None:
    down()
    proc = subprocess.run(["docker", "volume", "rm", PGDATA_VOLUME], capture_output=True, text=True)
    if proc.returncode != 0 and _volume_exists(PGDATA_VOLUME):
        raise LabError(f"{PGDATA_VOLUME} must be removed ({why}) but docker refused: "
                       f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no reason given'}")
    console.print(f"removed {PGDATA_VOLUME}: {why}")


def _match_volume_to_image(stack: Stack) -> None:
    """A volume initialised by another major (PG_MAJOR switched, or POSTGRES_IMAGE)
    would stop the db at every start: it is dropped, like one made with an older
    password, and the migration makes the lab's tables again."""
    image = stack.config()["services"]["db"]["image"]
    image_major = _env_of(image).get("PG_MAJOR", "") if image_exists(image) else ""
    volume_major = _volume_major(image) if image_major else ""
    if volume_major and volume_major != image_major:
        _drop_volume(f"it was initialised by PostgreSQL {volume_major} and the db image ({image}) "
                     f"runs {image_major}")


def read_state() -> dict | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# The Stack's options besides its selection: kept in .lab/state.json under
# these names, and given back to Stack() by the same names.
STACK_OPTIONS = ("app_port", "pg_major", "front", "https_port", "front_keepalive", "prom_port")


def _identity(stack: Stack) -> dict:
    """What makes a running lab this one: the selection and what the stack publishes and runs."""
    return {**stack.selection.as_dict(), **{name: getattr(stack, name) for name in STACK_OPTIONS}}


def _write_state(stack: Stack) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    state = {**_identity(stack), "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def current_stack() -> Stack:
    """The stack that `up` last started, or a clear error if none is running."""
    state = read_state()
    if not state:
        raise LabError("the lab is not up: run `make lab-up VARIANT=.. PROFILE=..` first")
    stack = Stack(Selection.of(state["variant"], state["profile"], state.get("knobs"),
                               observe=bool(state.get("observe"))),
                  **{name: state[name] for name in STACK_OPTIONS if name in state})
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


# The client backends an app removed a moment ago may leave behind (a container
# killed before its connections' FIN went out): ended, so the next app's counts
# start from zero.
END_OLD_BACKENDS = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


def _clear_all_but_db(stack: Stack) -> None:
    """Remove every container of the lab but Postgres, and end the backends they held.

    The next `up` makes the rest again: a new app has a new network namespace, so no
    TIME_WAIT of an earlier run is left in it (nor in PgBouncer's), and Postgres is
    neither stopped nor waited for again. If the db's own settings differ, compose
    recreates it too (and a volume of another major is dropped by `up`)."""
    others = project_containers(but="db")
    if others:
        subprocess.run(["docker", "rm", "--force", *others], capture_output=True, text=True)
    if "db" in stack.running_services():
        stack.exec("db", "psql", "-XAtq", "-U", "lab", "-d", "lab", "-c", END_OLD_BACKENDS)


def up(selection: Selection, fresh: bool = False, **options) -> Stack:
    """Start (or converge) the lab on a variant + profile; options are Stack's
    (STACK_OPTIONS: ports, the db image's PostgreSQL major, the front). Safe to run twice.

    Switching from another stack, or with fresh=True (a clean slate for a load: no
    TIME_WAIT left from an earlier run), everything but Postgres is made again."""
    stack = Stack(selection, **options)  # checks PG_MAJOR and FRONT before any docker call
    require_docker()
    ports = {"APP_PORT": stack.app_port, **({"HTTPS_PORT": stack.https_port} if stack.front == "https" else {}),
             **({"PROM_PORT": stack.prom_port} if selection.observe else {})}
    if len(set(ports.values())) < len(ports):
        raise LabError(f"two of {', '.join(ports)} are the same port ({ports}): choose different ports")
    for name, port in ports.items():
        if not port_is_free(port) and not _app_port_owner(port):
            raise LabError(f"127.0.0.1:{port} is already in use by another program; "
                           f"free it or choose another with {name}=<port>")
    created = lab_secrets.ensure() + (lab_secrets.ensure_front_tls() if stack.front == "https" else [])
    stack.config()  # the overlays resolve, before anything starts
    if created:
        console.print(f"generated secrets in .secrets/: {', '.join(created)}")
        if "db_password" in created and _volume_exists(PGDATA_VOLUME):
            # Made with another password (another checkout, or .secrets/ deleted).
            _drop_volume("it was initialised with an older password")
    build_all(stack.pg_major)  # cached layers make this quick; a changed Dockerfile or app is picked up
    _match_volume_to_image(stack)
    previous = read_state()
    if project_containers():
        if previous and {k: previous.get(k) for k in _identity(stack)} != _identity(stack):
            console.print(f"switching from {previous['variant']} + {previous['profile']}: "
                          "the previous stack's app side goes first (Postgres stays)")
            _clear_all_but_db(stack)
        elif fresh:
            _clear_all_but_db(stack)
    what = (f"lab up: {selection.variant} + {selection.profile}"
            + (f", FRONT={stack.front}" if stack.front != "none" else "")
            + (" + Prometheus" if selection.observe else ""))
    run_logged(stack.argv("up", "--detach", "--wait", "--no-build", "--pull", "never", "--remove-orphans"),
               what, STATE_DIR / "up.log", env=stack.env())
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
    args = [*profile_flags(*ALL_PROFILES), "down", "--remove-orphans", "--timeout", "10"]
    if volumes:
        args.append("--volumes")
    run_logged(stack.argv(*args), "lab down" + (" (with volumes)" if volumes else ""),
               STATE_DIR / "down.log", env=stack.env())
    leftovers = project_containers() + project_networks()
    if leftovers:
        raise LabError(f"lab down left these behind: {', '.join(leftovers)}")
    STATE_FILE.unlink(missing_ok=True)
