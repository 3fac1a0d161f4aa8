"""The probe's own cost (`make bench-probe`): CPU seconds per sampled second and the
wall time of `--seconds N`, for the single file on this machine's system python3,
while this process keeps a loopback destination busy (TIME_WAIT sockets and
new connections every second, so the probe samples a real churn). Written to
results/bench-probe-<id>/bench.json and printed as a table; the target is well
under 5% of one core (docs/internals.md, "The probe's own cost")."""
from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from churnlab.core.paths import RESULTS_DIR
from churnlab.investigate import pyz

SECONDS = (5, 30)
CHURN_RATE = 200  # new loopback connections a second while the probe samples
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class Churn:
    """A loopback listener and a client opening and closing CHURN_RATE connections a second."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.opened = 0
        self.threads = [threading.Thread(target=self._accept, daemon=True),
                        threading.Thread(target=self._connect, daemon=True)]

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
                conn.close()
            except OSError:
                continue

    def _connect(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            for _ in range(CHURN_RATE // 10):
                with socket.create_connection(("127.0.0.1", self.port)):
                    self.opened += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    def __enter__(self) -> Churn:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        self.server.close()


def _sockets() -> int:
    return sum(max(0, len(open(f"/proc/net/{n}").readlines()) - 1) for n in ("tcp", "tcp6")
               if os.path.exists(f"/proc/net/{n}"))


def measure(built: Path, seconds: int, port: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "-I", "-S", str(built), "--seconds", str(seconds), "--db", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=seconds + 120)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"bench-probe: the probe exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return {"seconds": seconds, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "cpu_s_per_sampled_s": round(cpu / seconds, 4), "share_of_one_core_pct": round(100 * cpu / wall, 2),
            "sockets_in_namespace": _sockets()}


def run() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        built = pyz.build(Path(tmp) / "churnlab-investigate.pyz")
        with Churn() as churn:
            time.sleep(2)  # TIME_WAIT builds up before the first sample
            rows = [measure(built, n, churn.port) for n in SECONDS]
            rate = churn.opened
    now = datetime.now(timezone.utc)
    out = RESULTS_DIR / f"bench-probe-{now:%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    data = {"bench": "probe", "taken": now.isoformat(), "python": PYTHON, "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2), "churn_connections": rate, "runs": rows}
    (out / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"probe's own cost ({PYTHON}, {os.cpu_count()} CPUs, load {data['loadavg_1m']}, "
          f"{CHURN_RATE} new loopback connections/s):")
    print(f"  {'--seconds':>9} {'wall s':>7} {'CPU s':>6} {'CPU s per sampled s':>20} {'% of one core':>14} sockets")
    for r in rows:
        print(f"  {r['seconds']:>9} {r['wall_s']:>7.2f} {r['cpu_s']:>6.2f} {r['cpu_s_per_sampled_s']:>20.4f} "
              f"{r['share_of_one_core_pct']:>13.2f}% {r['sockets_in_namespace']:>7,}")
    print(f"written: {out / 'bench.json'}")
    return out


if __name__ == "__main__":
    run()
