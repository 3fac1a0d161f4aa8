"""Count Postgres client backends during a load run over ONE persistent psql.

psql runs inside the db container over its Unix socket, so sampling takes no
ephemeral port and opens no connection per sample.
"""
from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

from churnlab.docker_cli import Stack

QUERY = (
    "SELECT extract(epoch from clock_timestamp()),"
    " count(*) FILTER (WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()),"
    " count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active'"
    " AND pid <> pg_backend_pid()),"
    " current_setting('max_connections')::int"
    " FROM pg_stat_activity;\n"
)


@dataclass
class Sample:
    ts: float
    client_backends: int
    active: int
    max_connections: int


@dataclass
class BackendSampler:
    """Samples every `interval` seconds in a thread until stopped."""

    stack: Stack
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="db-probe", daemon=True)
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> BackendSampler:
        self._proc = subprocess.Popen(
            self.stack.argv("exec", "-T", "db", "psql", "-X", "-q", "-A", "-t", "-F", "|",
                            "-v", "ON_ERROR_STOP=0", "-U", "lab", "-d", "lab"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, env=self.stack.env())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._proc:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()

    def _loop(self) -> None:
        assert self._proc and self._proc.stdin and self._proc.stdout
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._proc.stdin.write(QUERY)
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                self.error = f"psql probe stopped: {exc}"
                return
            if not line:
                self.error = "psql probe stopped: " + (self._proc.stderr.read() or "no output").strip()
                return
            ts, total, active, max_conn = line.strip().split("|")
            self.samples.append(Sample(float(ts), int(total), int(active), int(max_conn)))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    @property
    def peak(self) -> int | None:
        return max((s.client_backends for s in self.samples), default=None)

    def to_csv(self) -> str:
        rows = ["ts,client_backends,active,max_connections"]
        rows += [f"{s.ts:.3f},{s.client_backends},{s.active},{s.max_connections}" for s in self.samples]
        return "\n".join(rows) + "\n"
