"""Record evidence once per interval while a load runs, as JSON lines.

Sources, each a single long-lived process so sampling does not disturb what
it measures:
- netns:     sockets.py inside the app container's network namespace;
- postgres:  client backends by state (evidence/pg_sample.sql), over one psql
             on the db's Unix socket;
- pgbouncer: SHOW POOLS / SHOW STATS, over one psql on PgBouncer's socket.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from churnlab.compose.stack import Stack
from churnlab.evidence import postgres
from churnlab.evidence.psql import PsqlSession, psql_flags

SOCKETS_SCRIPT = Path(__file__).parents[1] / "evidence" / "sockets.py"
MARKER_PREFIX = "churnlab-sampler-"
# Run inside a container: kill every process whose command line holds the
# marker (argv[1]), except this one; print how many were found.
_KILL_BY_MARKER = """
import os, signal, sys
marker, me, found = sys.argv[1].encode(), os.getpid(), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        continue
    if marker in cmd and int(pid) != me:
        found += 1
        if len(sys.argv) < 3:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
print(found)
"""


def processes_with_marker(stack: Stack, service: str, marker: str = MARKER_PREFIX, kill: bool = False) -> int:
    """How many processes in the service's container carry the marker (killing them if asked)."""
    proc = stack.exec(service, "python3", "-c", _KILL_BY_MARKER, marker, *([] if kill else ["count-only"]))
    if proc.returncode != 0:
        raise OSError(f"cannot list processes in {service}: {proc.stderr.strip()[-200:]}")
    return int(proc.stdout.strip() or 0)


def tcp_targets(settings: dict[str, str], services: list[str]) -> list[str]:
    """The host:port pairs the app connects to over TCP (none for a Unix socket)."""
    targets = []
    host, port = settings.get("DB_HOST", "db"), settings.get("DB_PORT", "5432")
    if not host.startswith("/"):
        targets.append(f"{host}:{port}")
    if "db" in services and "db:5432" not in targets:
        targets.append("db:5432")
    return targets


class EvidenceRecorder:
    def __init__(self, stack: Stack, out: Path, interval: float = 1.0, max_seconds: float = 3600):
        self.marker = f"{MARKER_PREFIX}{uuid.uuid4().hex[:12]}"
        self.targets: list[str] = []
        self.stack = stack
        self.out = out
        self.interval = interval
        self.max_seconds = max_seconds
        self.records: list[dict] = []
        self.errors: list[str] = []
        # Called with each record as it is written (churnlab.live.panel), from the samplers' threads.
        self.listeners: list[Callable[[dict], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._netns: subprocess.Popen | None = None
        self._sessions: dict[str, PsqlSession] = {}
        # How to (re)open each SQL sampler's session: a fault (db-restart, pgbouncer-kill) ends
        # its psql; the sampler opens a new one once a second and says how long it was blind.
        self._openers: dict[str, Callable[[], PsqlSession]] = {}
        self._lost: dict[str, tuple[float, str]] = {}  # name: (when it was lost, why)

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> EvidenceRecorder:
        """Start every source it can; a source that cannot start is an error
        in self.errors, not an exception: the load still runs and is recorded."""
        self._file = self.out.open("a")
        try:
            services = self.stack.running_services()
            self.targets = tcp_targets(self.stack.app_settings(), services)
        except Exception as exc:  # noqa: BLE001 - anything here is recorded, not raised
            self.errors.append(f"samplers not started: {exc}")
            return self
        self._start("netns sampler", self._start_netns)
        self._openers["postgres"] = lambda: PsqlSession(
            self.stack.argv("exec", "-T", "db", "psql", *psql_flags(), *self._marked(), "-U", "lab", "-d", "lab"),
            env=self.stack.env())
        if "pgbouncer" in services:
            self._openers["pgbouncer"] = lambda: PsqlSession(
                self.stack.argv("exec", "-T", "pgbouncer", "sh", "-c",
                                'PGPASSWORD="$(cat /run/secrets/db_password)" exec psql ' + " ".join(
                                    f"'{flag}'" for flag in [*psql_flags(), *self._marked()])
                                + " -h /run/pgbouncer -p 6432 -U lab -d pgbouncer"),
                env=self.stack.env())
        for name, opener in self._openers.items():
            self._start(f"{name} sampler", lambda name=name, opener=opener: self._sessions.__setitem__(name, opener()))
        self._spawn(self._poll_sql)
        return self

    def _marked(self) -> list[str]:
        """A psql variable naming the marker: the sampler's psql is found by it (churnlab.live.overhead)."""
        return ["-v", f"churnlab_marker={self.marker}"]

    def _start(self, name: str, start) -> None:
        try:
            start()
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{name} not started: {exc}")

    def _start_netns(self) -> None:
        # The sampler stops itself when its stdin closes (this process went
        # away) and after max_seconds; the marker finds it if both fail.
        argv = ["exec", "-T", "app", "python3", "-c", SOCKETS_SCRIPT.read_text(),
                "--interval", str(self.interval), "--count", "0", "--max-seconds", str(self.max_seconds),
                "--until-stdin-closes", "--tag", self.marker]
        for target in self.targets:
            argv += ["--target", target]
        self._netns = subprocess.Popen(self.stack.argv(*argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=self.stack.env())
        self._spawn(self._read_netns)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._netns:
            try:
                if self._netns.stdin:
                    self._netns.stdin.close()  # the sampler inside sees EOF and exits
                self._netns.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._netns.terminate()
                try:
                    self._netns.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._netns.kill()
            try:
                left = processes_with_marker(self.stack, "app", self.marker, kill=True)
                if left:
                    self.errors.append(f"netns sampler outlived its exec: {left} process(es) killed by marker")
            except (OSError, subprocess.SubprocessError) as exc:
                self.errors.append(f"could not check for a leftover netns sampler: {exc}")
        for thread in self._threads:
            thread.join(timeout=15)
        for session in self._sessions.values():
            session.close()
        self._file.close()

    def _spawn(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _emit(self, record: dict) -> None:
        with self._lock:
            self.records.append(record)
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:  # noqa: BLE001, S112 - a listener never stops the evidence
                continue

    # -- sources -------------------------------------------------------------
    def _read_netns(self) -> None:
        assert self._netns and self._netns.stdout
        for line in self._netns.stdout:
            try:
                self._emit(json.loads(line))
            except json.JSONDecodeError:
                continue
        if not self._stop.is_set():
            err = self._netns.stderr.read() if self._netns.stderr else ""
            self.errors.append(f"netns sampler stopped: {err.strip()[-300:]}")

    def _poll_sql(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for name in list(self._lost):
                self._reopen(name)
            for name, session in list(self._sessions.items()):
                try:
                    self._emit(self._sample(name, session))
                except (OSError, ValueError, IndexError) as exc:
                    self._sessions.pop(name).close()
                    if self._stop.is_set():
                        break
                    self._lost[name] = (time.monotonic(), str(exc).strip()[:300])
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        for name, (since, why) in self._lost.items():
            self.errors.append(f"{name} sampler stopped: {why} (not back after {time.monotonic() - since:.0f} s)")

    def _reopen(self, name: str) -> None:
        """A new session for a sampler whose psql ended; one line in the problems once it is back."""
        since, why = self._lost[name]
        session = None
        try:
            session = self._openers[name]()
            self._emit(self._sample(name, session))
        except (OSError, ValueError, IndexError):
            if session is not None:
                session.close()
            return  # still down: try again next interval
        self._sessions[name] = session
        del self._lost[name]
        self.errors.append(f"{name} sampler lost its session ({why}) and was back {time.monotonic() - since:.0f} s "
                           "later: no sample in between")

    @staticmethod
    def _sample(name: str, session: PsqlSession) -> dict:
        ts = round(time.time(), 3)
        if name == "postgres":
            rows = session.query(postgres.QUERY)
            record = postgres.parse_line("|".join(rows[0])) if rows else None
            if record is None:
                raise ValueError(f"unreadable postgres sample: {rows!r:.200}")
            return record
        pools = _table(session.query("SHOW POOLS", header=True))
        stats = _table(session.query("SHOW STATS", header=True))
        lab_pools = [p for p in pools if p.get("database") != "pgbouncer"]
        return {"ts": ts, "source": "pgbouncer", "pools": lab_pools,
                "stats": [s for s in stats if s.get("database") != "pgbouncer"],
                "server_connections": sum(int(p.get("sv_active", 0)) + int(p.get("sv_idle", 0))
                                          + int(p.get("sv_used", 0)) + int(p.get("sv_tested", 0))
                                          + int(p.get("sv_login", 0)) for p in lab_pools),
                "clients_waiting": sum(int(p.get("cl_waiting", 0)) for p in lab_pools)}


def _table(rows: list[list[str]]) -> list[dict]:
    if not rows:
        return []
    header, *body = rows
    return [dict(zip(header, row, strict=False)) for row in body]


def netns_snapshot(stack: Stack, targets: list[str]) -> dict:
    """One sockets.py sample from inside the app's network namespace."""
    argv = ["python3", "-c", SOCKETS_SCRIPT.read_text(), "--count", "1"]
    for target in targets:
        argv += ["--target", target]
    proc = stack.exec("app", *argv)
    if proc.returncode != 0:
        raise OSError(f"sockets.py failed in the app container: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout.splitlines()[-1])
