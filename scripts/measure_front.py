"""Measure what the HTTPS front costs: the same ab load (no keep-alive)
on gthread + default, straight to gunicorn over HTTP, through nginx with TLS,
and through nginx with upstream keep-alive. For each: req/s, errors, latency,
the load average, and the sockets on both sides of the proxy hop (TIME_WAIT in
the front toward app:8000, and in the app's own namespace).

    flock /work/docker.lock .venv/bin/python scripts/measure_front.py [VUS] [ITERATIONS] [ROUNDS] [KEEPALIVES]

KEEPALIVES (default 32): the upstream keep-alive sizes to measure besides none,
comma-separated, e.g. 32,256.

Writes results/front-measure-<UTC time>.json; the lab is down at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone

from churnlab.compose import lab
from churnlab.compose.recorder import SOCKETS_SCRIPT
from churnlab.compose.stack import Stack
from churnlab.core import catalog
from churnlab.core.paths import RESULTS_DIR
from churnlab.load import run as loadrun

CASES = [("http", "none", 0), ("https", "https", 0), ("https, upstream keep-alive 32", "https", 32)]


class Sampler:
    """sockets.py in one service's namespace, every 0.5 s, until stopped."""

    def __init__(self, stack: Stack, service: str, targets: list[str]):
        argv = ["exec", "-T", service, "python3", "-c", SOCKETS_SCRIPT.read_text(), "--interval", "0.5",
                "--count", "0", "--max-seconds", "600", "--until-stdin-closes"]
        for target in targets:
            argv += ["--target", target]
        self.proc = subprocess.Popen(stack.argv(*argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=stack.env())
        self.records: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.records.append(json.loads(line))
            except json.JSONDecodeError:
                pass

    def stop(self) -> list[dict]:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.thread.join(timeout=5)
        return self.records


def peak(records: list[dict], *path: str) -> int | None:
    values = []
    for record in records:
        value = record
        for key in path:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        if isinstance(value, (int, float)):
            values.append(value)
    return max(values, default=None)


def measure(label: str, front: str, keepalive: int, vus: int, iterations: int) -> dict:
    stack = lab.up(catalog.Selection.of("gthread", "default"), front=front, front_keepalive=keepalive)
    samplers = {"app": Sampler(stack, "app", ["db:5432"])}
    if front != "none":
        samplers["front"] = Sampler(stack, "front", ["app:8000"])
    load_before = os.getloadavg()
    result = loadrun.run(stack, loadrun.LoadParams(vus=vus, iterations=iterations))
    load_after = os.getloadavg()
    found = {name: sampler.stop() for name, sampler in samplers.items()}
    s = result.summary
    row = {"case": label, "front": front, "upstream_keepalive": keepalive, "run_id": result.run_id,
           "rps": round(s.rps, 1), "error_rate": s.error_rate, "requests": s.requests,
           "p50_ms": s.p50_ms, "p99_ms": s.p99_ms,
           "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
           "app_peak_time_wait": peak(found["app"], "time_wait"),
           "app_peak_local_ports_in_use": peak(found["app"], "local_ports_in_use")}
    if "front" in found:
        row.update(front_peak_time_wait_to_app=peak(found["front"], "targets", "app:8000", "time_wait"),
                   front_peak_established_to_app=peak(found["front"], "targets", "app:8000", "established"),
                   front_peak_local_ports_to_app=peak(found["front"], "targets", "app:8000", "local_ports"),
                   front_peak_time_wait_all=peak(found["front"], "time_wait"),
                   front_port_range_size=peak(found["front"], "port_range_size"))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    vus = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    sizes = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [32]
    cases = CASES[:2] + [(f"https, upstream keep-alive {size}", "https", size) for size in sizes]
    rows = []
    try:
        for number in range(rounds):
            order = cases if number % 2 == 0 else list(reversed(cases))
            for label, front, keepalive in order:
                lab.down()  # a fresh lab: no TIME_WAIT left from the previous case
                rows.append({"round": number + 1, **measure(label, front, keepalive, vus, iterations)})
    finally:
        lab.down()
    out = RESULTS_DIR / f"front-measure-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"vus": vus, "iterations": iterations, "cores": os.cpu_count(), "rows": rows},
                              indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()
