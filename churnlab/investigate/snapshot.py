"""The snapshot: everything the probe read on a host, secrets redacted, in one
JSON file (0600) with a version, as run.json has. One type (Snapshot), one
writer (write), one reader (read): `churnlab diagnose --snapshot FILE` gives
the probe's verdict offline, on another machine. Standard library only."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from churnlab.core import files
from churnlab.core.errors import LabError
from churnlab.investigate.logs import Errors
from churnlab.investigate.procs import AppServer

VERSION = 1
KIND = "churnlab-investigate-snapshot"


@dataclass
class Snapshot:
    host: str = ""
    taken_at: str = ""                 # UTC, ISO: when sampling began
    uid: int = -1                      # 0: read as root
    seconds: int = 0                   # sampled
    db_given: dict = field(default_factory=dict)      # --db: name -> ip:port
    destinations: dict = field(default_factory=dict)  # the DB destinations sampled: name -> ip:port
    states: dict = field(default_factory=dict)        # name -> {tcp state: sockets} at the last sample
    sysctls: dict = field(default_factory=dict)       # port range, reserved ports, tcp_tw_reuse, ...
    netns: list[dict] = field(default_factory=list)   # churnlab.evidence.sockets records, one a second
    counters: dict = field(default_factory=dict)      # {"before"|"after": {"TcpExt": {...}, "Tcp": {...}}}
    listen: dict = field(default_factory=dict)        # the app's port -> connections in its accept queue
    app_servers: list[AppServer] = field(default_factory=list)
    errors: Errors = field(default_factory=Errors)
    unreadable: list[str] = field(default_factory=list)  # what could not be read, and why
    version: int = VERSION
    kind: str = KIND

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def app(self) -> AppServer | None:
        """The app server whose sockets were sampled (its network namespace), else the busiest one."""
        return self.app_servers[0] if self.app_servers else None


def _part(cls, data):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


def from_dict(data: dict) -> Snapshot:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise LabError("not a churnlab investigate snapshot (no \"kind\": \"" + KIND + "\")")
    version = data.get("version")
    if version != VERSION:
        raise LabError(f"snapshot version {version!r} is unknown; this churnlab reads version {VERSION}")
    snap = _part(Snapshot, data)
    snap.app_servers = [_part(AppServer, a) for a in data.get("app_servers") or []]
    snap.errors = _part(Errors, data.get("errors"))
    return snap


def write(path: str, snap: Snapshot) -> str:
    """The file, 0600 from its first byte (it may hold a host's layout), whole or not at all."""
    files.write_atomic(Path(path).absolute(), json.dumps(snap.as_dict(), indent=1) + "\n", mode=0o600)
    return path


def read(path: str) -> Snapshot:
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as exc:
        raise LabError(f"snapshot {path!r} cannot be read: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabError(f"snapshot {path!r} is not JSON: {' '.join(str(exc).split())}") from exc
    try:
        return from_dict(data)
    except (TypeError, AttributeError) as exc:
        raise LabError(f"snapshot {path!r} is not a snapshot this churnlab reads: {exc}") from exc
