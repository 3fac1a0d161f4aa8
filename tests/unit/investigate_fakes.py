"""A directory laid out like /proc, for the probe's unit tests: the boundary the
probe reads (processes, sockets, sysctls), nothing of its own logic faked."""
from __future__ import annotations

import socket
from pathlib import Path

STATE_HEX = {"ESTABLISHED": "01", "TIME_WAIT": "06", "LISTEN": "0A", "SYN_SENT": "02"}


def _hex(ip: str, port: int) -> str:
    return socket.inet_aton(ip)[::-1].hex().upper() + f":{port:04X}"


def net_tcp(rows: list[tuple[str, int, str, int, str]], queued: int = 0) -> str:
    """/proc/net/tcp's text for rows (local ip, port, remote ip, port, state); LISTEN rows hold `queued`."""
    lines = ["  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"]
    for i, (lip, lport, rip, rport, state) in enumerate(rows):
        rx = queued if state == "LISTEN" else 0
        lines.append(f"{i:4}: {_hex(lip, lport)} {_hex(rip, rport)} {STATE_HEX[state]} 00000000:{rx:08X} "
                     "00:00000000 00000000     0        0 0")
    return "\n".join(lines) + "\n"


class FakeProc:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sys/net/ipv4").mkdir(parents=True)
        (root / "net").mkdir()
        self.sysctl("ip_local_port_range", "50000\t50999")
        self.sysctl("tcp_tw_reuse", "0")

    def sysctl(self, name: str, value: str) -> None:
        (self.root / "sys/net/ipv4" / name).write_text(value + "\n")

    def sockets(self, rows, queued: int = 0) -> None:
        (self.root / "net/tcp").write_text(net_tcp(rows, queued))

    def process(self, pid: int, ppid: int, argv: list[str], environ: dict[str, str] | None = None,
                files: dict[str, str] | None = None, maps: str = "", cgroup: str = "0::/system.slice/app.service\n"):
        """A process; files: its root's files (absolute paths) and its working directory's (relative)."""
        d = self.root / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (d / "stat").write_text(f"{pid} (python3) S {ppid} {pid} {pid} 0 -1\n")
        if environ is not None:
            (d / "environ").write_bytes(b"\0".join(f"{k}={v}".encode() for k, v in environ.items()) + b"\0")
        (d / "maps").write_text(maps)
        (d / "cgroup").write_text(cgroup)
        (d / "root").mkdir()
        (d / "root/srv/app").mkdir(parents=True)
        (d / "cwd").symlink_to(d / "root/srv/app")
        for path, text in (files or {}).items():
            target = d / "root" / path.lstrip("/") if path.startswith("/") else d / "cwd" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return d
