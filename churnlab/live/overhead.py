"""What the lab's own machinery costs during a load, against what it serves.

The lab's own part: this process (the evidence recorder's threads, the live
panel, k6's JSON stream reader: getrusage) and the samplers it started
(`docker compose exec` clients on this host, sockets.py in the app's network
namespace, psql in the db and PgBouncer containers), found by the recorder's
marker in their command lines, with their CPU from /proc/<pid>/stat. The part
served: the app, db and PgBouncer containers' CPU from their cgroups
(churnlab.compose.cpu_meter), less the samplers that ran inside them. Not counted:
the Postgres backend answering the sampler's one query a second, and k6 (the
load, not the lab). Linux only, standard library only.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from churnlab.compose import cpu_meter

SERVED = ("app", "db", "pgbouncer")
PROC = Path("/proc")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def marked_processes(marker: str, proc: Path = PROC) -> tuple[float, float]:
    """CPU seconds of the processes whose command line holds the marker: (on this host, inside containers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    host = inside = 0.0
    needle = marker.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "cmdline").read_bytes():
                continue
            stat = (entry / "stat").read_text()
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[-1].split()  # the fields after the command's name
        seconds = (int(rest[11]) + int(rest[12])) / ticks  # utime, stime
        if "docker" in cgroup:
            inside += seconds
        else:
            host += seconds
    return host, inside


def figures(wall: float, own: float, samplers_host: float, samplers_inside: float,
            containers: dict[str, float]) -> dict:
    """run.json's `overhead`: the lab's CPU seconds and its share of the lab's and the served containers' CPU."""
    lab = own + samplers_host + samplers_inside
    served = max(0.0, sum(containers.values()) - samplers_inside)
    return {"seconds": round(wall, 1), "churnlab_cpu_s": round(own, 2),
            "samplers_cpu_s": round(samplers_host + samplers_inside, 2),
            "containers_cpu_s": {name: round(cpu, 2) for name, cpu in sorted(containers.items())},
            "lab_share": round(lab / (lab + served), 4) if containers and lab + served > 0 else None,
            "loadavg_1m": round(os.getloadavg()[0], 2)}


class Meter:
    """start() before the load, stop() at its end (while the samplers still run): run.json's `overhead`."""

    def __init__(self, marker: str | None) -> None:
        self.marker = marker
        self._containers: dict[str, str] = {}
        self._first: dict[str, float] = {}
        self._own = 0.0
        self._started = 0.0

    @staticmethod
    def _served() -> dict[str, str]:
        """{service: container id} of the served containers (cpu_meter lists the lab's containers)."""
        return {service: cid for cid, service in cpu_meter.containers().items() if service in SERVED}

    def start(self) -> None:
        self._started = time.monotonic()
        self._own = _self_cpu()
        self._containers = self._served()
        for name, cid in self._containers.items():
            used = cpu_meter.usage_seconds(cid)
            if used is not None:
                self._first[name] = used

    def stop(self) -> dict:
        own = _self_cpu() - self._own
        host, inside = marked_processes(self.marker) if self.marker else (0.0, 0.0)
        containers = {}
        for name, first in self._first.items():
            used = cpu_meter.usage_seconds(self._containers[name])
            if used is not None:
                containers[name] = max(0.0, used - first)
        return figures(time.monotonic() - self._started, own, host, inside, containers)
