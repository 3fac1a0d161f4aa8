#!/usr/bin/env python3
"""Sample the TCP state of this network namespace, once per interval, as JSON lines.

Standalone on purpose: Python 3's standard library and /proc only, so the
same file runs inside a container (the lab) and on a real host (Ansible).

    python3 sockets.py --target db:5432 --interval 1 --count 0

Each line: ts (epoch seconds), time_wait (total), per-target TIME_WAIT,
ESTABLISHED and SYN_SENT counts, local ports in use within
ip_local_port_range (count and percentage of the range), the range itself
and tcp_tw_reuse.

For the port budget (churnlab.evidence.port_budget), a sampler that keeps running
also reports new connections: `active_opens`, the namespace's Tcp ActiveOpens
counter (/proc/net/snmp, every connect() that got a port, all destinations),
`new_active`, the outgoing sockets (local port not a listening one) present
now and absent from the previous sample, and per target `new`, those of them
toward the target (null on the first sample: nothing to compare with).

With --textfile PATH it writes figures for Prometheus instead
(node_exporter's textfile collector), for every destination the namespace
connects out to: no exporter counts TIME_WAIT or ports per destination, and
exhaustion is per destination (a local port is reused toward another ip:port).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time

STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


# A namespace's sockets share few addresses (its own, the DB's): each is decoded once, not per row,
# which is most of a sample's CPU when the range is full of TIME_WAIT.
@functools.lru_cache(maxsize=4096)
def _ipv4(hex_addr: str) -> str:
    return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_addr)[::-1])


@functools.lru_cache(maxsize=4096)
def _ipv6(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    text = socket.inet_ntop(socket.AF_INET6, words)
    return text[7:] if text.startswith("::ffff:") and "." in text else text


def parse_proc_net_tcp(text: str, ipv6: bool = False) -> list[tuple[str, int, str, int, str]]:
    """Rows of /proc/net/tcp(6) as (local_ip, local_port, remote_ip, remote_port, state)."""
    decode = _ipv6 if ipv6 else _ipv4
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 4)  # only the first four: a full range is 28,232 lines a second
        if len(fields) < 4:
            continue
        local, remote, state = fields[1], fields[2], fields[3]
        # the kernel writes ADDR:PORT with the port as 4 hex digits ("%08X:%04X")
        rows.append((decode(local[:-5]), int(local[-4:], 16), decode(remote[:-5]), int(remote[-4:], 16),
                     STATES.get(state, state)))
    return rows


SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT", "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN", "CLOSING": "CLOSING", "UNCONN": "CLOSE",
}


def _split_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, int(port) if port.isdigit() else 0


def parse_ss(text: str) -> list[tuple[str, int, str, int, str]]:
    """Rows of `ss -Htan` (or `ss -tan`, header skipped) in the same form as parse_proc_net_tcp."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in SS_STATES:
            continue
        lip, lport = _split_endpoint(fields[3])
        rip, rport = _split_endpoint(fields[4])
        rows.append((lip, lport, rip, rport, SS_STATES[fields[0]]))
    return rows


def read_sysctls(proc_root: str = "/proc") -> dict:
    def read(name: str) -> str:
        try:
            with open(os.path.join(proc_root, "sys", "net", "ipv4", name)) as f:
                return f.read().strip()
        except OSError:
            return ""

    low, high = (int(x) for x in (read("ip_local_port_range") or "32768 60999").split())
    reuse = read("tcp_tw_reuse")
    # connect() never takes a reserved port: they are not part of the range that runs out
    reserved = reserved_in_range(read("ip_local_reserved_ports"), low, high)
    return {"port_range": [low, high], "port_range_size": high - low + 1 - reserved,
            "tcp_tw_reuse": int(reuse) if reuse.isdigit() else None, "reserved_ports": reserved}


def reserved_in_range(text: str, low: int, high: int) -> int:
    """How many ports of ip_local_reserved_ports ("8000-8010,9000") fall within low..high."""
    count = 0
    for part in text.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            a, b = int(first), int(last or first)
            count += max(0, min(b, high) - max(a, low) + 1)
    return count


def _proc_net_tcp(proc_root: str):
    """(text, is_ipv6) of /proc/net/tcp and tcp6, those that can be read."""
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open(os.path.join(proc_root, "net", name)) as f:
                yield f.read(), v6
        except OSError:
            pass


def read_sockets(proc_root: str = "/proc") -> list[tuple[str, int, str, int, str]]:
    rows = []
    for text, v6 in _proc_net_tcp(proc_root):
        rows += parse_proc_net_tcp(text, ipv6=v6)
    return rows


def listen_queues(proc_root: str = "/proc") -> dict[int, int]:
    """Per listening port: the connections waiting in its accept queue now (a LISTEN row's rx_queue)."""
    out: dict[int, int] = {}
    for text, _v6 in _proc_net_tcp(proc_root):
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 4 and fields[3] == "0A":
                port = int(fields[1].rsplit(":", 1)[1], 16)
                out[port] = out.get(port, 0) + int(fields[4].split(":")[1], 16)
    return out


def holds_range_port(lport: int, rport: int, state: str, low: int, high: int) -> bool:
    """A connection holding a local port of ip_local_port_range (the ports that run out)."""
    return state != "LISTEN" and rport != 0 and low <= lport <= high


# -- new connections (the port budget) ------------------------------------
def read_counters(proc_root: str = "/proc", files: tuple[str, ...] = ("netstat", "snmp")) -> dict[str, dict[str, int]]:
    """The namespace's kernel counters, /proc/net/netstat and /proc/net/snmp (pairs of a header line and a
    values line): {"TcpExt": {"ListenOverflows": 0, ...}, "Tcp": {"ActiveOpens": 3329, ...}, ...}."""
    out: dict[str, dict[str, int]] = {}
    for name in files:
        try:
            with open(os.path.join(proc_root, "net", name)) as f:
                lines = [line.split() for line in f]
        except OSError:
            continue
        for head, values in zip(lines[::2], lines[1::2], strict=False):
            if head and values and head[0] == values[0]:
                out[head[0].rstrip(":")] = {k: int(v) for k, v in zip(head[1:], values[1:], strict=False)
                                            if v.lstrip("-").isdigit()}
    return out


def read_active_opens(proc_root: str = "/proc") -> int | None:
    """Tcp ActiveOpens of this network namespace (/proc/net/snmp), or None."""
    return read_counters(proc_root, ("snmp",)).get("Tcp", {}).get("ActiveOpens")


class NewConnections:
    """Remembers the outgoing sockets of the previous sample, to tell the new ones."""

    def __init__(self) -> None:
        self.previous: set | None = None

    def update(self, keys: set) -> set | None:
        """The keys not seen last time; None on the first call."""
        new = None if self.previous is None else keys - self.previous
        self.previous = keys
        return new


def summarise(rows, sysctls: dict, targets: dict[str, tuple[str, int]], ts: float | None = None,
              tracker: NewConnections | None = None, active_opens: int | None = None) -> dict:
    """Reduce socket rows to the figures the diagnosis needs (with a tracker:
    new outgoing connections since its previous sample, too)."""
    low, high = sysctls["port_range"]
    size = sysctls["port_range_size"]
    time_wait = 0
    ports_in_use: set[int] = set()
    per_target = {name: {"time_wait": 0, "established": 0, "syn_sent": 0, "ports": set()} for name in targets}
    by_addr = {addr: name for name, addr in targets.items()}
    listening = {lport for _lip, lport, _rip, _rport, state in rows if state == "LISTEN"} if tracker else set()
    outgoing: set = set()
    for lip, lport, rip, rport, state in rows:
        if state == "LISTEN":
            continue
        if tracker is not None and rport != 0 and lport not in listening:
            outgoing.add((lip, lport, rip, rport))
        if state == "TIME_WAIT":
            time_wait += 1
        if holds_range_port(lport, rport, state, low, high):
            ports_in_use.add(lport)
        name = by_addr.get((rip, rport))
        if name is None:
            continue
        counts = per_target[name]
        counts["ports"].add(lport)
        if state == "TIME_WAIT":
            counts["time_wait"] += 1
        elif state == "ESTABLISHED":
            counts["established"] += 1
        elif state == "SYN_SENT":
            counts["syn_sent"] += 1
    new = tracker.update(outgoing) if tracker is not None else None
    new_by_target = {name: 0 for name in targets}
    for _lip, _lport, rip, rport in new or ():
        name = by_addr.get((rip, rport))
        if name is not None:
            new_by_target[name] += 1
    record = {
        "ts": round(ts if ts is not None else time.time(), 3),
        "source": "netns",
        "sockets": len(rows),
        "time_wait": time_wait,
        "local_ports_in_use": len(ports_in_use),
        "port_use_pct": round(100.0 * len(ports_in_use) / size, 2) if size > 0 else None,
        **sysctls,
        "targets": {name: {"address": f"{targets[name][0]}:{targets[name][1]}", "time_wait": c["time_wait"],
                           "established": c["established"], "syn_sent": c["syn_sent"],
                           "local_ports": len(c["ports"])}
                    for name, c in per_target.items()},
    }
    if tracker is not None:
        record["active_opens"] = active_opens
        record["new_active"] = None if new is None else len(new)
        for name, counts in record["targets"].items():
            counts["new"] = None if new is None else new_by_target[name]
    return record


def destinations(rows, sysctls: dict) -> dict[str, dict[str, int]]:
    """Outgoing connections grouped by remote ip:port: local ports in use
    (within the ephemeral range) and the sockets by state."""
    low, high = sysctls["port_range"]
    out: dict[str, dict[str, int]] = {}
    for _lip, lport, rip, rport, state in rows:
        if not holds_range_port(lport, rport, state, low, high):
            continue
        counts = out.setdefault(f"{rip}:{rport}", {"local_ports": 0})
        counts["local_ports"] += 1
        counts[state.lower()] = counts.get(state.lower(), 0) + 1
    return out


TEXTFILE_STATES = ("established", "syn_sent", "time_wait", "fin_wait1", "fin_wait2", "close_wait", "last_ack")


def prometheus_text(rows, sysctls: dict, names: dict[tuple[str, int], str] | None = None,
                    top: int = 20) -> str:
    """The textfile collector's view: the range, ports in use, and per
    destination (the `top` busiest) its local ports and sockets by state."""
    names = names or {}
    low, high = sysctls["port_range"]
    per_dest = destinations(rows, sysctls)
    busiest = sorted(per_dest.items(), key=lambda item: -item[1]["local_ports"])[:top]
    in_use = len({lport for _l, lport, _r, rport, state in rows if holds_range_port(lport, rport, state, low, high)})
    lines = [
        "# HELP churnlab_ephemeral_port_range_size Ports in net.ipv4.ip_local_port_range.",
        "# TYPE churnlab_ephemeral_port_range_size gauge",
        f"churnlab_ephemeral_port_range_size {sysctls['port_range_size']}",
        "# HELP churnlab_ephemeral_ports_in_use Local ports of the range held by a connection (any state).",
        "# TYPE churnlab_ephemeral_ports_in_use gauge",
        f"churnlab_ephemeral_ports_in_use {in_use}",
        "# HELP churnlab_destination_local_ports Local ports of the range held toward one destination ip:port.",
        "# TYPE churnlab_destination_local_ports gauge",
    ]
    def label(address: str) -> str:
        ip, _, port = address.rpartition(":")
        return f'destination="{address}",name="{names.get((ip, int(port)), address)}"'
    lines += [f"churnlab_destination_local_ports{{{label(a)}}} {c['local_ports']}" for a, c in busiest]
    lines += ["# HELP churnlab_destination_sockets Outgoing sockets toward one destination, by TCP state.",
              "# TYPE churnlab_destination_sockets gauge"]
    lines += [f'churnlab_destination_sockets{{{label(a)},state="{state}"}} {c.get(state, 0)}'
              for a, c in busiest for state in TEXTFILE_STATES]
    return "\n".join(lines) + "\n"


def write_textfile(path: str, text: str) -> None:
    """Atomically, so node_exporter never reads half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def resolve(targets: list[str]) -> dict[str, tuple[str, int]]:
    """'db:5432' -> {'db:5432': ('172.18.0.2', 5432)}; an unresolvable name is an error."""
    out = {}
    for target in targets:
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"sockets.py: target must be host:port, got {target!r}")
        try:
            out[target] = (socket.gethostbyname(host), int(port))
        except OSError as exc:
            raise SystemExit(f"sockets.py: cannot resolve {host!r}: {exc}") from exc
    return out


def _exit_on_eof() -> None:
    """Stop the whole process when the caller closes our stdin (or dies)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", default=[], help="host:port of the DB or PgBouncer")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--count", type=int, default=1, help="samples to take; 0 = until stopped")
    parser.add_argument("--max-seconds", type=float, default=3600, help="hard stop, whatever --count says")
    parser.add_argument("--proc-root", default="/proc", help="for tests: a directory laid out like /proc")
    parser.add_argument("--ss", action="store_true",
                        help="read sockets with `ss -Htan` (iproute2, netlink) instead of /proc/net/tcp")
    parser.add_argument("--ss-output", help="for tests: a file holding `ss -tan` output to read instead")
    parser.add_argument("--until-stdin-closes", action="store_true",
                        help="exit as soon as stdin reaches EOF (the caller went away)")
    parser.add_argument("--tag", default="", help="a marker in the command line, to find this process by")
    parser.add_argument("--textfile", help="write Prometheus text to this .prom file instead of JSON lines")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be > 0")
    if args.until_stdin_closes:
        threading.Thread(target=_exit_on_eof, daemon=True).start()
    targets = resolve(args.target)
    deadline = time.monotonic() + args.max_seconds
    taken = 0
    tracker = NewConnections() if args.count != 1 else None  # one sample has nothing to compare with
    names = {addr: name for name, addr in targets.items()}  # the textfile's labels
    try:
        while args.count == 0 or taken < args.count:
            started = time.monotonic()
            if args.ss_output:
                with open(args.ss_output) as f:
                    rows = parse_ss(f.read())
            elif args.ss:
                rows = parse_ss(subprocess.run(["ss", "-Htan"], capture_output=True, text=True, check=True).stdout)
            else:
                rows = read_sockets(args.proc_root)
            if args.textfile:
                write_textfile(args.textfile, prometheus_text(rows, read_sysctls(args.proc_root), names))
            else:
                opens = read_active_opens(args.proc_root) if tracker is not None else None
                record = summarise(rows, read_sysctls(args.proc_root), targets, tracker=tracker, active_opens=opens)
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
            taken += 1
            if time.monotonic() >= deadline or (args.count and taken >= args.count):
                break
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
