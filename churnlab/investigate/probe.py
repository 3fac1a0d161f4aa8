"""The probe: what is read on the host, in order, into one Snapshot. Read-only:
files under /proc and /proc/sys (never written), the log or the journal
(journalctl, which only reads), and nothing else; the snapshot is written by
the caller, if asked.

The sockets are sampled once a second for --seconds (churnlab.evidence.sockets,
the same sampler the lab runs in its containers and on its hosts), so the port
budget (churnlab.evidence.port_budget) has new connections per second per
destination. The destinations are the --db addresses, or else every one seen
toward a DB port (5432 Postgres, 6432 PgBouncer) from a local port that is not
a listening one (the outgoing side, not a local Postgres's own).
"""
from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone

from churnlab.evidence import sockets
from churnlab.investigate import logs, procs
from churnlab.investigate.args import DB_PORTS, Args
from churnlab.investigate.snapshot import Snapshot

EXTRA_SYSCTLS = ("net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog", "net/ipv4/tcp_fin_timeout",
                 "net/ipv4/ip_local_reserved_ports", "net/ipv4/tcp_max_tw_buckets")


def _sysctls(proc: str) -> dict:
    values = sockets.read_sysctls(proc)
    for path in EXTRA_SYSCTLS:
        try:
            with open(f"{proc}/sys/{path}") as f:
                values[path.rpartition("/")[2]] = f.read().strip()
        except OSError:
            pass
    return values


def _discover(rows, targets: dict[str, tuple[str, int]]) -> None:
    """Add every outgoing destination toward a DB port not known yet (named by its address)."""
    listening = {lport for _l, lport, _r, _rp, state in rows if state == "LISTEN"}
    known = set(targets.values())
    for _lip, lport, rip, rport, state in rows:
        if rport in DB_PORTS and state != "LISTEN" and lport not in listening and (rip, rport) not in known:
            targets[f"{rip}:{rport}"] = (rip, rport)
            known.add((rip, rport))


def _states(rows, targets: dict[str, tuple[str, int]]) -> dict[str, dict[str, int]]:
    by_addr = {addr: name for name, addr in targets.items()}
    out: dict[str, dict[str, int]] = {name: {} for name in targets}
    for _lip, _lport, rip, rport, state in rows:
        if (name := by_addr.get((rip, rport))) is not None:
            out[name][state] = out[name].get(state, 0) + 1
    return out


def _log_lines(args: Args, app: procs.AppServer | None, proc: str, unreadable: list[str]):
    """(lines, source): --log, --journal-unit, else what the app server names (its error log file,
    its systemd unit); ([], "") when there is none."""
    if args.log:
        return logs.read_file(args.log), f"log {args.log}"
    unit = args.journal_unit or (app.unit if app else "")
    if not unit and app and app.error_log:
        path = app.error_log if not os.path.isabs(app.error_log) else f"{proc}/{app.master}/root{app.error_log}"
        try:
            return logs.read_file(path), f"log {app.error_log} (the app server's error log)"
        except OSError as exc:
            unreadable.append(f"the app server's error log {app.error_log}: {exc.strerror or exc}")
    if unit:
        # The app as it runs now: its journal since its master started (errors of an earlier run, before a
        # fix and its restart, are not this one's).
        since = started_at(app.master, proc) if app else None
        lines = logs.read_journal(unit, unreadable, since)
        if lines is not None:
            return lines, (f"journal unit {unit}" + ("" if args.journal_unit else " (the app server's unit)")
                           + (f" since the app server started, {logs.iso(since)}" if since else ""))
    return [], ""


def started_at(pid: int, proc: str = "/proc") -> int | None:
    """When a process started (epoch seconds): its start in clock ticks after boot (/proc/PID/stat's 22nd field)
    plus the boot time (/proc/stat's btime). None when either cannot be read."""
    try:
        with open(f"{proc}/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open(f"{proc}/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks // os.sysconf("SC_CLK_TCK")


def _rename(snap: Snapshot, resolved: dict[str, str]) -> None:
    """Name a destination as the errors do ("db:5432"), where libpq gave its address too."""
    names = {address: name for name, address in resolved.items() if address in snap.destinations}
    if not names:
        return
    snap.destinations = {names.get(a, n) if n == a else n: a for n, a in snap.destinations.items()}
    snap.states = {names.get(n, n): s for n, s in snap.states.items()}
    for record in snap.netns:
        for key, new in list(names.items()):
            if key in record["targets"]:
                record["targets"][new] = record["targets"].pop(key)


def run(args: Args, proc: str = "/proc") -> Snapshot:
    """Read the host for args.seconds; nothing is written (the caller writes the snapshot if asked)."""
    unreadable: list[str] = []
    snap = Snapshot(host=socket.gethostname(), uid=os.geteuid(), seconds=args.seconds, db_given=dict(args.db),
                    taken_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    snap.sysctls = _sysctls(proc)
    snap.app_servers = procs.find(proc, unreadable)
    snap.counters["before"] = sockets.read_counters(proc)
    targets = {name: (address.rpartition(":")[0], int(address.rpartition(":")[2]))
               for name, address in args.db.items()}
    tracker = sockets.NewConnections()
    started = time.monotonic()
    rows = []
    for i in range(args.seconds + 1):  # N seconds: N intervals between N + 1 samples
        rows = sockets.read_sockets(proc)
        if not args.db:
            _discover(rows, targets)
        snap.netns.append(sockets.summarise(rows, snap.sysctls, targets, tracker=tracker,
                                            active_opens=sockets.read_active_opens(proc)))
        if i < args.seconds:
            time.sleep(max(0.0, started + i + 1 - time.monotonic()))
    snap.counters["after"] = sockets.read_counters(proc)
    snap.destinations = {name: f"{ip}:{port}" for name, (ip, port) in targets.items()}
    snap.states = _states(rows, targets)
    app = snap.app
    queues = sockets.listen_queues(proc)
    snap.listen = {str(port): queues[port] for port in (app.ports if app else []) if port in queues}
    lines, source = _log_lines(args, app, proc, unreadable)
    snap.errors = logs.read_lines(lines, source)
    _rename(snap, snap.errors.resolved)
    for server in snap.app_servers:
        procs.decide(server, snap.errors.using_worker if server is app else "")
    if os.geteuid() != 0 and unreadable:
        unreadable.append("run as root to read the rest")
    snap.unreadable = unreadable
    return snap
