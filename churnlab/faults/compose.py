"""The compose lab's faults (docker stop/start, pause, kill, a route in the app's namespace),
and the check that nothing is left broken after the load."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from churnlab.core import run_record
from churnlab.core.errors import LabError
from churnlab.faults.plan import SETTLE_SECONDS, Plan
from churnlab.faults.recovery import recovery
from churnlab.faults.timer import FaultTimer


def _docker(*args: str, timeout: float = 60) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise OSError(f"docker {' '.join(args[:2])} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def _state(container: str) -> dict:
    return json.loads(_docker("inspect", "--format", "{{json .State}}", container))


class ComposeFault:
    """One fault kind on the running compose lab, through the docker CLI."""

    def __init__(self, stack, kind: str):
        self.stack = stack
        self.kind = kind
        self.services = stack.running_services()
        self.containers = {s: self._container(s) for s in self.services}
        settings = stack.app_settings()
        service = "pgbouncer" if kind == "pgbouncer-kill" else "db"
        if kind == "db-network-cut":
            service = settings.get("DB_HOST", "db")
            if service not in self.containers:
                raise LabError(f"FAULT=db-network-cut: the app's DB host {service!r} is not a running service")
            self.address = self._address(self.containers[service])
            self.image = stack.config()["services"]["app"]["image"]
            self.target = f"app -> {service} ({self.address})"
        else:
            self.target = service
        self.victim = self.containers.get(service, "")

    def _container(self, service: str) -> str:
        return self.stack.run("ps", "-q", service, capture=True).stdout.strip()

    @staticmethod
    def _address(container: str) -> str:
        found = _docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                        container).split()
        if not found:
            raise LabError(f"no address found for container {container}")
        return found[0]

    def _route(self, *args: str) -> str:
        """`ip route ...` inside the app's network namespace, from a helper container sharing it."""
        return _docker("run", "--rm", "--pull", "never", "--network", f"container:{self.containers['app']}",
                       "--cap-add", "NET_ADMIN", "--user", "0", "--entrypoint", "ip", self.image, "route", *args)

    def inject(self) -> None:
        if self.kind == "db-restart":
            _docker("stop", "--time", "20", self.victim)
        elif self.kind == "db-pause":
            _docker("pause", self.victim)
        elif self.kind == "pgbouncer-kill":
            _docker("kill", "--signal", "KILL", self.victim)
        else:
            self._route("add", "unreachable", f"{self.address}/32")

    def undo(self) -> None:
        if self.kind == "db-network-cut":
            if self._route("show", f"{self.address}/32"):
                self._route("del", "unreachable", f"{self.address}/32")
            return
        state = _state(self.victim)
        if state.get("Paused"):
            _docker("unpause", self.victim)
        elif not state.get("Running"):
            _docker("start", self.victim)

    def left_broken(self) -> list[str]:
        """What is not back as it was: waits up to SETTLE_SECONDS for health checks to pass."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            broken = self._broken_now()
            if not broken or time.monotonic() > deadline:
                return broken
            time.sleep(1)

    def _broken_now(self) -> list[str]:
        broken = []
        for service, container in self.containers.items():
            try:
                raw = _docker("inspect", "--format",
                              "{{json .State}}|{{.HostConfig.NetworkMode}}|{{len .NetworkSettings.Networks}}",
                              container)
            except OSError as exc:
                broken.append(f"{service}: {exc}")
                continue
            state_json, mode, networks = raw.rsplit("|", 2)
            state = json.loads(state_json)
            health = (state.get("Health") or {}).get("Status")
            if state.get("Paused"):
                broken.append(f"{service}: paused")
            elif not state.get("Running"):
                broken.append(f"{service}: {state.get('Status', 'not running')}")
            elif health not in (None, "healthy"):
                broken.append(f"{service}: {health}")
            elif networks == "0" and not mode.startswith("container:"):
                broken.append(f"{service}: disconnected from every network")
        if self.kind == "db-network-cut":
            try:
                if self._route("show", f"{self.address}/32"):
                    broken.append(f"app: a route toward {self.address} is still in place")
            except OSError as exc:
                broken.append(f"app: its routes could not be read: {exc}")
        return broken


class NoFault:
    """The timer of a run without FAULT: nothing happens, nothing is recorded."""

    record = None

    def __enter__(self) -> NoFault:
        return self

    def __exit__(self, *exc) -> None:
        return None


def timer(stack, chosen: Plan | None) -> FaultTimer | NoFault:
    return FaultTimer(chosen, ComposeFault(stack, chosen.kind)) if chosen else NoFault()


def finish(fault_timer: FaultTimer | NoFault, run_dir: Path) -> run_record.Fault | None:
    """The fault's record with its recovery, once the load is over and the fault undone."""
    if not isinstance(fault_timer, FaultTimer):
        return None
    record = fault_timer.record
    try:
        left = fault_timer.injector.left_broken()
    except Exception as exc:  # noqa: BLE001 - a failed check is a finding, not a lost run
        left = [f"could not check the lab: {exc}"]
    record.recovery = recovery(run_dir, record, left)
    return record
