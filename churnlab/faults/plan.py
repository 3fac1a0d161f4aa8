"""Faults mid-load: `make load FAULT=<kind> [FAULT_AT=10s] [FAULT_FOR=10s] [FAULT_TAIL=15s]`.

A fault is put in place on a timer while k6 runs (FAULT_AT seconds after the
load starts), held for FAULT_FOR seconds, and undone, always: when its time is
up, when the load ends first, on an error and on Ctrl-C (FaultTimer.__exit__,
with SIGINT held off while it undoes). After the load the lab is checked: every
service that ran before is running again, not paused, healthy and on its
network, and no route is left behind. The record (run_record.Fault) keeps what
was planned, when the fault really started and ended, and the recovery read
from k6's per-request CSV: the last seconds of the load all answered 200?

The kinds, in the compose lab:
  db-restart      docker stop of the db (SIGINT: a fast shutdown that terminates
                  every backend), docker start FAULT_FOR later
  db-pause        docker pause of the db (cgroup freezer): the kernel still
                  accepts TCP, Postgres answers nothing
  pgbouncer-kill  docker kill (SIGKILL) of PgBouncer, docker start later
                  (the pgbouncer variants only)
  db-network-cut  an `unreachable` route toward the app's DB host inside the
                  app's own network namespace (from a short-lived helper
                  container sharing it, with NET_ADMIN): new connections fail
                  with "No route to host", open ones stall until it is removed.
"""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from churnlab.core import bounds, run_record
from churnlab.core.errors import LabError
from churnlab.evidence import timeline

KINDS = {
    "db-restart": "Postgres stopped (fast shutdown: every backend terminated), then started again",
    "db-pause": "Postgres frozen (docker pause): connections accepted by the kernel, nothing answered",
    "pgbouncer-kill": "PgBouncer killed (SIGKILL), then started again",
    "db-network-cut": "the app's route to the DB removed (unreachable) in its network namespace, then restored",
}
DEFAULTS = {"FAULT_AT": "10", "FAULT_FOR": "10", "FAULT_TAIL": "15"}
LAST_SECONDS = 3          # the final seconds of the load that must all answer 200
SLOW_MS = 1000.0          # a request slower than this, around a fault, counts as stalled
SETTLE_SECONDS = 30       # how long a service may take to be healthy again after the load
# Without ITERATIONS, a fault run is time-boxed by k6's maxDuration (at + for + tail), not by a count.
FAULT_ITERATIONS = 1_000_000


@dataclass(frozen=True)
class Plan:
    kind: str
    at: int
    duration: int
    tail: int

    @property
    def load_seconds(self) -> int:
        return self.at + self.duration + self.tail


def plan(kind: str, at: str = "", duration: str = "", tail: str = "") -> Plan | None:
    """FAULT and its times, checked before anything starts; None without FAULT."""
    kind = kind.strip()
    if not kind:
        for name, value in (("FAULT_AT", at), ("FAULT_FOR", duration), ("FAULT_TAIL", tail)):
            if value.strip():
                raise LabError(f"{name}={value.strip()!r} needs FAULT=<kind>; valid kinds: {', '.join(KINDS)}")
        return None
    if kind not in KINDS:
        raise LabError(f"unknown FAULT {kind!r}; valid FAULTs: {', '.join(KINDS)}")
    return Plan(kind, bounds.seconds("FAULT_AT", at.strip() or DEFAULTS["FAULT_AT"]),
                bounds.seconds("FAULT_FOR", duration.strip() or DEFAULTS["FAULT_FOR"]),
                bounds.seconds("FAULT_TAIL", tail.strip() or DEFAULTS["FAULT_TAIL"]))


def check_fits(chosen: Plan, variant: str, settings: dict[str, str], services: list[str]) -> None:
    """The fault makes sense on this lab (one line otherwise, nothing started)."""
    if chosen.kind == "pgbouncer-kill" and "pgbouncer" not in services:
        raise LabError(f"FAULT=pgbouncer-kill needs a PgBouncer variant (pgbouncer, pgbouncer-local, ...); "
                       f"the running lab is {variant!r}, which has no PgBouncer")
    if chosen.kind == "db-network-cut" and settings.get("DB_HOST", "db").startswith("/"):
        raise LabError(f"FAULT=db-network-cut cuts a TCP route, and {variant!r} reaches its DB over a Unix socket "
                       f"({settings['DB_HOST']}); use db-restart, db-pause or pgbouncer-kill")


def k6_args(chosen: Plan | None) -> list[str]:
    """k6's maxDuration for a fault run: the load covers the fault and FAULT_TAIL after it."""
    return ["-e", f"MAX_DURATION={chosen.load_seconds}s"] if chosen else []


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- the fault's timer: put in place, held, always undone ----------------------------
class Injector(Protocol):
    target: str

    def inject(self) -> None: ...
    def undo(self) -> None: ...       # safe to call when nothing (or half of it) was done
    def left_broken(self) -> list[str]: ...


class FaultTimer:
    """A context manager around the load: the fault starts `at` s after entry and is undone
    `duration` s later, or at exit, whichever comes first; exactly one undo per injection."""

    def __init__(self, chosen: Plan, injector: Injector, now=_now):
        self.plan = chosen
        self.injector = injector
        self._now = now
        self.record = run_record.Fault(kind=chosen.kind, planned_at_s=float(chosen.at),
                                       planned_for_s=float(chosen.duration), target=injector.target)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._attempted = False
        self._undone = False
        self._thread = threading.Thread(target=self._run, name="churnlab-fault", daemon=True)

    # Seconds between entry and the load's start: several generators begin
    # together at a shared time this far ahead (loadrun.start_lead), and
    # FAULT_AT counts from there.
    offset_s: float = 0.0

    def __enter__(self) -> FaultTimer:
        self.record.load_started = self._now() if not self.offset_s else \
            (datetime.now(timezone.utc) + timedelta(seconds=self.offset_s)).isoformat(timespec="milliseconds")
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.offset_s + self.plan.at):
            return
        self._inject()
        self._stop.wait(self.plan.duration)
        self._undo()

    def _inject(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._attempted = True  # from here on, an undo is owed even if inject fails half-way
            started = self._now()  # when it was triggered: a db stop fails requests before `docker stop` returns
            try:
                self.injector.inject()
                self.record.started = started
            except Exception as exc:  # noqa: BLE001 - recorded; the undo still runs
                self.record.errors.append(f"putting {self.plan.kind} in place failed: {exc}")

    def _undo(self) -> None:
        with self._lock:
            if not self._attempted or self._undone:
                return
            self._undone = True
            try:
                self.injector.undo()
            except Exception as exc:  # noqa: BLE001
                self.record.errors.append(f"undoing {self.plan.kind} failed: {exc}")
            self.record.ended = self._now()

    def __exit__(self, *exc) -> None:
        held = None
        if threading.current_thread() is threading.main_thread():
            held = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the undo
        try:
            self._stop.set()
            self._thread.join()
            self._undo()
        finally:
            if held is not None:
                signal.signal(signal.SIGINT, held)


# -- the compose lab's faults ---------------------------------------------------------
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


# -- recovery, from k6's per-request CSV --------------------------------------------
def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def recovery(run_dir: Path, fault: run_record.Fault, left_broken: list[str],
             last_seconds: int = LAST_SECONDS) -> run_record.Recovery:
    durations: dict[int, list[float]] = {}
    reqs, failed = timeline.k6_seconds(run_dir, durations)  # one pass over the CSV
    result = run_record.Recovery(last_seconds=last_seconds, left_broken=list(left_broken))
    start, end = _epoch(fault.started), _epoch(fault.ended)
    if not reqs or start is None or end is None:
        result.recovered = False if left_broken else None
        return result
    first_second, last_second = int(start), int(end)
    result.failed_during = sum(n for s, n in failed.items() if first_second <= s <= last_second)
    result.failed_after = sum(n for s, n in failed.items() if s > last_second)
    after = [s for s, n in failed.items() if n and s > last_second]
    result.last_failure_after_end_s = float(max(after) + 1 - end) if after else 0.0
    slow = [ms for s, values in durations.items() if first_second <= s for ms in values if ms > SLOW_MS]
    result.slow_during = len(slow)
    result.max_ms_during = max((ms for s, values in durations.items() if first_second <= s for ms in values),
                               default=None)
    window = range(max(reqs) - last_seconds + 1, max(reqs) + 1)
    result.last_seconds_requests = sum(reqs.get(s, 0) for s in window)
    result.last_seconds_failed = sum(failed.get(s, 0) for s in window)
    if window.start <= last_second:  # the load ended before the fault had been over for `last_seconds`
        result.recovered = None if not left_broken else False
        return result
    result.recovered = (result.last_seconds_requests > 0 and result.last_seconds_failed == 0
                        and not left_broken)
    return result
