"""The probe's input, checked before anything is read: one line and exit code 2
for a bad value (churnlab.core.errors.LabError), the same for the venv's
`churnlab investigate` and the single file."""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from churnlab.core.errors import LabError

SECONDS = (1, 300)   # sampled seconds: at least one interval, at most five minutes
DEFAULT_SECONDS = 5
DB_PORTS = (5432, 6432)  # Postgres, PgBouncer: the destinations found without --db
HOST = re.compile(r"[A-Za-z0-9_.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]{1,256}")


@dataclass
class Args:
    db: dict[str, str] = field(default_factory=dict)  # "db:5432": "172.18.0.2:5432"; {} = every 5432/6432
    seconds: int = DEFAULT_SECONDS
    journal_unit: str = ""
    log: str = ""
    snapshot: str = ""


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def destination(value: str) -> tuple[str, str]:
    """'db:5432' -> ('db:5432', '172.18.0.2:5432'); a name is resolved once, here."""
    host, _, port = value.strip().rpartition(":")
    if not HOST.fullmatch(host) or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise LabError(f"--db={_shown(value)} must be HOST:PORT (a name or an address, a port from 1 to 65535)")
    try:
        address = socket.getaddrinfo(host.strip("[]"), int(port), proto=socket.IPPROTO_TCP)[0][4][0]
    except (OSError, UnicodeError) as exc:
        raise LabError(f"--db={_shown(value)}: cannot resolve {host!r} ({exc})") from exc
    return f"{host}:{int(port)}", f"{address}:{int(port)}"


def check(db: list[str] | None = None, seconds: str | int | None = None, journal_unit: str | None = None,
          log: str | None = None, snapshot: str | None = None) -> Args:
    """Every value checked; the first bad one is a LabError (one line)."""
    text = str(DEFAULT_SECONDS if seconds is None or str(seconds).strip() == "" else seconds).strip()
    low, high = SECONDS
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and low <= int(text) <= high):
        raise LabError(f"--seconds={_shown(text)} must be a whole number from {low} to {high}")
    if journal_unit and log:
        raise LabError("give --journal-unit or --log, not both: the errors are read from one of them")
    if journal_unit and not UNIT.fullmatch(journal_unit):
        raise LabError(f"--journal-unit={_shown(journal_unit)} is not a systemd unit name")
    if log:
        if os.path.isdir(log):
            raise LabError(f"--log={_shown(log)} is a folder, not a log file")
        try:
            with open(log, "rb"):
                pass
        except OSError as exc:
            raise LabError(f"--log={_shown(log)} cannot be read: {exc.strerror or exc}") from exc
    if snapshot:
        folder = os.path.dirname(os.path.abspath(snapshot))
        if os.path.isdir(snapshot):
            raise LabError(f"--snapshot={_shown(snapshot)} is a folder; name the file to write")
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise LabError(f"--snapshot={_shown(snapshot)}: its folder {folder!r} does not exist or is not writable")
    return Args(db=dict(destination(d) for d in db or []), seconds=int(text), journal_unit=journal_unit or "",
                log=log or "", snapshot=snapshot or "")
