"""The compose lab's faults (docker stop/start, pause, kill, a route in the app's namespace; the
degradations: the db's cgroup CPU quota, a lossy chain of the lab's own in the app's namespace),
and the check that nothing is left broken after the load."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from churnlab.core import run_record
from churnlab.core.errors import LabError
from churnlab.faults.plan import LOSSY_CHAIN, SETTLE_SECONDS, Plan
from churnlab.faults.recovery import recovery
from churnlab.faults.timer import FaultTimer


# The fault's own commands run in a session of their own: a Ctrl-C reaches the terminal's whole
# foreground group, and one killed half-way (an iptables rule, a docker stop) would leave the fault
# half in place and its record with an error; they are short (a timeout each), and the undo follows.
def _docker(*args: str, timeout: float = 60) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)
    if proc.returncode != 0:
        raise OSError(f"docker {' '.join(args[:2])} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


FREEZE_TRIES = 3  # docker pause's attempts when runc could not freeze the container in time


def _pause(container: str, tries: int = FREEZE_TRIES) -> None:
    """docker pause, tried again when runc gave up freezing the container's cgroup: on a busy machine a
    process may not stop within runc's own retries, and runc thaws the cgroup and says "unable to freeze"
    (moby/moby#48205; once in a CI run here). Any other failure is not tried again."""
    for attempt in range(1, tries + 1):
        try:
            _docker("pause", container)
            return
        except OSError as exc:
            if "unable to freeze" not in str(exc) or attempt == tries:
                raise
            time.sleep(0.2)


def _state(container: str) -> dict:
    return json.loads(_docker("inspect", "--format", "{{json .State}}", container))


CGROUP = Path("/sys/fs/cgroup")


def _netns(pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command (iptables, tc) in the network namespace of process `pid`, from the host (root)."""
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True, timeout=30,
                          start_new_session=True)
    if check and proc.returncode != 0:
        raise OSError(f"{' '.join(argv[:3])} in the namespace of pid {pid} failed: {proc.stderr.strip()[-300:]}")
    return proc


def cpu_quota_file(pid: int) -> Path:
    """The CPU quota file of the cgroup process `pid` is in: cgroup v1's cpu.cfs_quota_us, or v2's
    cpu.max (read from /proc/<pid>/cgroup, so any cgroup driver's layout is found)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",")
        if "cpu" in names:
            for mount in (controllers, "cpu", "cpu,cpuacct"):
                candidate = CGROUP / mount / path.lstrip("/") / "cpu.cfs_quota_us"
                if candidate.exists():
                    return candidate
        elif controllers == "":
            candidate = CGROUP / path.lstrip("/") / "cpu.max"
            if candidate.exists():
                return candidate
    raise LabError(f"no CPU quota file found for pid {pid} under {CGROUP} (cgroup v1 cpu or v2 cpu.max)")


def quota_text(path: Path, cpus: float) -> str:
    """What to write to `path` for a quota of `cpus` CPUs, within the cgroup's own period."""
    if path.name == "cpu.max":  # v2: "QUOTA PERIOD" (QUOTA "max": none)
        period = int(path.read_text().split()[1])
        return f"{max(1000, round(cpus * period))} {period}"
    period = int((path.parent / "cpu.cfs_period_us").read_text())
    return str(max(1000, round(cpus * period)))


class ComposeFault:
    """One fault kind on the running compose lab, through the docker CLI (and, for the degradations,
    the db's cgroup and the app's network namespace, from the host)."""

    def __init__(self, stack, kind: str, chosen: Plan | None = None):
        self.stack = stack
        self.kind = kind
        self.plan = chosen
        self.services = stack.running_services()
        self.containers = {s: self._container(s) for s in self.services}
        settings = stack.app_settings()
        service = "pgbouncer" if kind == "pgbouncer-kill" else "db"
        self.quota_file: Path | None = None
        self.quota_before = ""
        if kind in ("db-network-cut", "db-lossy"):
            service = settings.get("DB_HOST", "db")
            if service not in self.containers:
                raise LabError(f"FAULT={kind}: the app's DB host {service!r} is not a running service")
            self.address = self._address(self.containers[service])
            self.image = stack.config()["services"]["app"]["image"]
            self.target = f"app -> {service} ({self.address})"
        else:
            self.target = service
        self.victim = self.containers.get(service, "")
        if kind == "db-slow":
            # read before anything changes: the undo writes back exactly this
            self.quota_file = cpu_quota_file(self._pid(self.victim))
            self.quota_before = self.quota_file.read_text().strip()

    @staticmethod
    def _pid(container: str) -> int:
        pid = int(_docker("inspect", "--format", "{{.State.Pid}}", container) or 0)
        if pid <= 0:
            raise LabError(f"container {container} is not running")
        return pid

    # -- db-slow: the db's CPU quota; with FAULT_DELAY_MS, netem on its interface -----------------------
    def _slow(self) -> None:
        assert self.plan is not None and self.plan.db_cpus and self.quota_file is not None
        self.quota_file.write_text(quota_text(self.quota_file, self.plan.db_cpus))
        if self.plan.delay_ms:
            _netns(self._pid(self.victim), "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay",
                   f"{self.plan.delay_ms}ms")

    def _unslow(self) -> None:
        if self.quota_file is not None and self.quota_file.read_text().strip() != self.quota_before:
            self.quota_file.write_text(self.quota_before)
        if self.plan is not None and self.plan.delay_ms and self._has_netem():
            _netns(self._pid(self.victim), "tc", "qdisc", "del", "dev", "eth0", "root")

    def _has_netem(self) -> bool:
        return "netem" in _netns(self._pid(self.victim), "tc", "qdisc", "show", "dev", "eth0").stdout

    # -- db-lossy: a chain of the lab's own in the app's namespace, jumped to toward the DB only --------
    def _jump(self) -> list[str]:
        return ["OUTPUT", "-d", f"{self.address}/32", "-j", LOSSY_CHAIN]

    def _lossy(self) -> None:
        assert self.plan is not None and self.plan.loss_pct
        pid = self._pid(self.containers["app"])
        _netns(pid, "iptables", "-w", "-N", LOSSY_CHAIN)
        _netns(pid, "iptables", "-w", "-A", LOSSY_CHAIN, "-m", "statistic", "--mode", "random", "--probability",
               f"{self.plan.loss_pct / 100:.6f}", "-j", "DROP")
        _netns(pid, "iptables", "-w", "-I", *self._jump())

    def _unlossy(self) -> None:
        pid = self._pid(self.containers["app"])
        while _netns(pid, "iptables", "-w", "-C", *self._jump(), check=False).returncode == 0:
            _netns(pid, "iptables", "-w", "-D", *self._jump())
        if _netns(pid, "iptables", "-w", "-n", "-L", LOSSY_CHAIN, check=False).returncode == 0:
            _netns(pid, "iptables", "-w", "-F", LOSSY_CHAIN)
            _netns(pid, "iptables", "-w", "-X", LOSSY_CHAIN)

    def _lab_rules(self) -> list[str]:
        """The app namespace's iptables lines that name the lab's chain."""
        saved = _netns(self._pid(self.containers["app"]), "iptables-save").stdout
        return [line for line in saved.splitlines() if LOSSY_CHAIN in line]

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
            _pause(self.victim)
        elif self.kind == "pgbouncer-kill":
            _docker("kill", "--signal", "KILL", self.victim)
        elif self.kind == "db-slow":
            self._slow()
        elif self.kind == "db-lossy":
            self._lossy()
        else:
            self._route("add", "unreachable", f"{self.address}/32")

    def undo(self) -> None:
        if self.kind == "db-slow":
            self._unslow()
            return
        if self.kind == "db-lossy":
            self._unlossy()
            return
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
        try:
            if self.kind == "db-slow":
                now = self.quota_file.read_text().strip() if self.quota_file else ""
                if now != self.quota_before:
                    broken.append(f"db: CPU quota {now!r} in {self.quota_file}, {self.quota_before!r} before")
                if self.plan is not None and self.plan.delay_ms and self._has_netem():
                    broken.append("db: a netem delay is still on eth0")
            elif self.kind == "db-lossy" and self._lab_rules():
                broken.append(f"app: iptables still has the lab's chain: {' | '.join(self._lab_rules())}")
        except (OSError, LabError) as exc:
            broken.append(f"{self.target}: could not be checked: {exc}")
        return broken


class NoFault:
    """The timer of a run without FAULT: nothing happens, nothing is recorded."""

    record = None

    def __enter__(self) -> NoFault:
        return self

    def __exit__(self, *exc) -> None:
        return None


def timer(stack, chosen: Plan | None) -> FaultTimer | NoFault:
    return FaultTimer(chosen, ComposeFault(stack, chosen.kind, chosen)) if chosen else NoFault()


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
