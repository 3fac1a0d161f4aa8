"""CPU seconds each lab container used during a load run, read from its cgroup.

The rank needs to say where the time goes (the app's CPU per request against
Postgres') and when the load generator was the limit (k6's own share). The
kernel already counts it: the container's cgroup CPU usage (cgroup v1
cpuacct.usage in ns, or v2 cpu.stat usage_usec). A thread lists the compose
project's containers once a second (k6 is started during the run) and keeps
each one's first and last reading; a container seen only after the start
counts from zero (k6: its whole life, VU start-up included).
"""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from churnlab.compose.stack import PROJECT

CGROUP = Path("/sys/fs/cgroup")


def usage_seconds(container_id: str) -> float | None:
    for path, scale in ((CGROUP / "cpuacct" / "docker" / container_id / "cpuacct.usage", 1e-9),
                        (CGROUP / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat", 1e-6),
                        (CGROUP / "docker" / container_id / "cpu.stat", 1e-6)):
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.name == "cpu.stat":
            for line in text.splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) * scale
            continue
        return int(text.strip()) * scale
    return None


def throttling(container_id: str) -> tuple[int, int] | None:
    """(CFS periods, periods in which it was throttled) of a container with a CPU limit
    (cpu.stat's nr_periods and nr_throttled, cgroup v1 or v2); None without one."""
    for path in (CGROUP / "cpu" / "docker" / container_id / "cpu.stat",
                 CGROUP / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat",
                 CGROUP / "docker" / container_id / "cpu.stat"):
        try:
            stat = dict(line.split()[:2] for line in path.read_text().splitlines() if " " in line)
        except (OSError, ValueError):
            continue
        if "nr_periods" in stat:
            periods = int(stat["nr_periods"])
            return (periods, int(stat.get("nr_throttled", 0))) if periods else None
    return None


def listing() -> list[tuple[str, str, str]]:
    """(container id, compose service, container name) of the lab's running containers."""
    proc = subprocess.run(["docker", "ps", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}",
                           "--format", '{{.ID}} {{.Label "com.docker.compose.service"}} {{.Names}}'],
                          capture_output=True, text=True, timeout=30, check=False)
    return [(parts[0], parts[1], parts[2]) for parts in (line.split() for line in proc.stdout.splitlines())
            if len(parts) == 3]


def containers() -> dict[str, str]:
    """{container id: compose service} of the lab's running containers."""
    return {cid: service for cid, service, _ in listing()}


class CpuMeter:
    """`with CpuMeter() as m: ...` then m.by_service(): {service: CPU seconds}, m.wall_seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.service: dict[str, str] = {}
        self.name: dict[str, str] = {}
        self.seen: dict[str, tuple[float, float]] = {}  # cid: (first, last) monotonic time it was read
        self.throttled: dict[str, tuple[int, int]] = {}  # cid: its last throttling(), where it has a limit
        self.wall_seconds = 0.0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = 0.0

    def _sample(self, initial: bool = False) -> None:
        try:
            found = listing()
        except Exception as exc:  # noqa: BLE001 - a missing figure never stops a run
            self.errors.append(f"cpu meter: {exc}")
            return
        for cid, service, name in found:
            used = usage_seconds(cid)
            if used is None:
                continue
            now = time.monotonic()
            self.service[cid] = service
            self.name[cid] = name
            self.seen[cid] = (self.seen.get(cid, (now, now))[0], now)
            throttled = throttling(cid)
            if throttled:
                self.throttled[cid] = throttled
            self.first.setdefault(cid, used if initial else 0.0)
            self.last[cid] = used

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> CpuMeter:
        self._sample(initial=True)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._sample()
        self.wall_seconds = time.monotonic() - self._started

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for cid, last in self.last.items():
            name = self.service[cid]
            totals[name] = round(totals.get(name, 0.0) + max(0.0, last - self.first.get(cid, 0.0)), 3)
        return totals

    def by_name(self) -> dict[str, tuple[float, float, float | None]]:
        """{container name: (CPU seconds, seconds it ran, share of CFS periods it was throttled in)}.
        A container seen only after the start counts its CPU from zero and may have run up to
        one interval before it was first seen and after it was last seen: one interval is
        added to its seconds (half of each). The throttled share is None without a CPU limit."""
        found = {}
        for cid, last in self.last.items():
            periods, throttled = self.throttled.get(cid, (0, 0))
            found[self.name[cid]] = (round(max(0.0, last - self.first.get(cid, 0.0)), 3),
                                     round(self.seen[cid][1] - self.seen[cid][0] + self.interval, 3),
                                     round(throttled / periods, 3) if periods else None)
        return found
