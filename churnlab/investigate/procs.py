"""The app server, found in /proc: its processes, master and workers, and how its
workers run (the worker class), from what gunicorn itself reads, in its order:

1. the command line (-k/--worker-class, -w/--workers, --threads);
2. GUNICORN_CMD_ARGS in the process's own environment;
3. the config file (-c FILE, or ./gunicorn.conf.py in its working directory),
   read with ast (churnlab.investigate.pyconfig), never executed;
then what the running process shows: its "Using worker:" log line (churnlab.investigate.logs),
and the greenlet/gevent/eventlet modules mapped in /proc/PID/maps.
gunicorn's default is sync, and sync with threads > 1 runs as gthread.
uwsgi, uvicorn, daphne and granian are read by churnlab.investigate.servers, each
as it reads its own settings (its command line, environment and config file).

Files of another user's process (environ, maps, cwd, root) need root or that
user; what could not be read is said, never guessed.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from churnlab.investigate import pyconfig, redact, servers

SERVERS = ("gunicorn", "uwsgi", "uvicorn", "daphne", "granian")
GREEN = re.compile(r"/(greenlet|gevent|eventlet)[/_.-][^ ]*")
# gunicorn's worker classes by their module (-k gunicorn.workers.ggevent.GeventWorker)
CLASS_MODULES = {"ggevent": "gevent", "geventlet": "eventlet", "gthread": "gthread", "sync": "sync",
                 "gtornado": "tornado",
                 "uvicorn": servers.ASGI, "uvicorn_worker": servers.ASGI}  # -k uvicorn.workers.UvicornWorker
HELPERS = re.compile(r"multiprocessing\.(resource_tracker|forkserver)")  # a child that serves no request


@dataclass
class AppServer:
    server: str                          # gunicorn, uwsgi, uvicorn, daphne or granian
    master: int                          # the pid whose parent is not the same server
    workers: list[int] = field(default_factory=list)  # its children
    cmdline: list[str] = field(default_factory=list)  # redacted
    environ: dict = field(default_factory=dict)       # redacted; {} when unreadable
    environ_read: bool = False
    same_netns: bool | None = None       # in the probe's network namespace (None: could not tell)
    unit: str = ""                       # the systemd unit its cgroup names, if any
    config_file: str = ""
    config: dict = field(default_factory=dict)         # settings read with ast (redacted)
    config_unresolved: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)        # where the worker class was seen: value
    worker_class: str = ""
    worker_class_from: str = ""
    threads: int | None = None
    cores: int | None = None             # uwsgi's async cores (greenlets) per process
    interface: str = ""                  # wsgi, asgi or rsgi, where the server says
    configured_workers: int | None = None
    modules: list[str] = field(default_factory=list)   # greenlet/gevent/eventlet files mapped
    bind: list[str] = field(default_factory=list)
    error_log: str = ""                  # --error-logfile / errorlog, when a file
    blind: bool = False                  # its environment, config or maps could not be read: no default guessed

    @property
    def ports(self) -> list[int]:
        out = []
        for b in self.bind:
            port = b.rpartition(":")[2]
            if port.isdigit():
                out.append(int(port))
        return out


def _read(path: str, unreadable: list[str], what: str, binary: bool = False, server: AppServer | None = None):
    try:
        with open(path, "rb" if binary else "r", errors=None if binary else "replace") as f:
            return f.read()
    except PermissionError:
        unreadable.append(f"{what} ({path}): permission denied (run as root or as its user)")
        if server is not None:
            server.blind = True
    except OSError:
        pass  # the process ended, or the file does not exist: nothing to say
    return None


def server_of(cmdline: list[str]) -> str | None:
    """Which app server a command line runs, if any ("gunicorn: worker [x]" titles too)."""
    words = [w for arg in cmdline[:3] for w in arg.split()[:1]]
    if len(cmdline) > 2 and cmdline[1] == "-m":
        words.append(cmdline[2])
    for word in words:
        base = os.path.basename(word).rstrip(":")
        for server in SERVERS:
            if base == server or base.startswith((server + "-", server + ":", server + "_")):
                return server
    return None


GUNICORN = {"-k": "worker_class", "--worker-class": "worker_class", "-w": "workers", "--workers": "workers",
            "--threads": "threads", "-b": "bind", "--bind": "bind", "-c": "config", "--config": "config",
            "--error-logfile": "errorlog", "--log-file": "errorlog"}


def options(args: list[str]) -> dict[str, str]:
    """gunicorn's options of interest from a command line: -k X, --worker-class=X, -kX."""
    return dict(servers.pairs(args, GUNICORN))


def normalise(worker_class: str) -> str:
    """'gunicorn.workers.ggevent.GeventWorker' -> 'gevent'; 'egg:gunicorn#eventlet' -> 'eventlet'."""
    name = str(worker_class).strip().rpartition("#")[2]
    parts = name.split(".")
    if len(parts) > 1:
        for part in parts:
            if part in CLASS_MODULES:
                return CLASS_MODULES[part]
        return name
    return name.lower()


def _processes(proc: str) -> dict[int, tuple[int, list[str]]]:
    """pid: (ppid, cmdline) of every process (cmdline and stat are readable by anyone)."""
    out = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/cmdline", "rb") as f:
                cmdline = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            with open(f"{proc}/{entry}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry)] = (ppid, cmdline)
    return out


def _environ(proc: str, server: AppServer, unreadable: list[str]) -> dict[str, str] | None:
    pid = server.master
    raw = _read(f"{proc}/{pid}/environ", unreadable, f"environment of pid {pid}", binary=True, server=server)
    if raw is None:
        return None
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, _, v in pairs}


def _unit(proc: str, pid: int) -> str:
    text = _read(f"{proc}/{pid}/cgroup", [], "") or ""
    units = re.findall(r"/([^/\s]+\.service)(?:/|$)", text, re.M)
    return units[-1] if units else ""


def _netns(proc: str, pid: int | str) -> str | None:
    try:
        return os.readlink(f"{proc}/{pid}/ns/net")
    except OSError:
        return None


def _in_process(proc: str, pid: int, path: str) -> str:
    """A path as the process sees it: its root (a container's too) and its working directory."""
    if os.path.isabs(path):
        return f"{proc}/{pid}/root{path}"
    return f"{proc}/{pid}/cwd/{path}"


def _exists(path: str, server: AppServer) -> bool:
    """Whether the file is there; one behind a process's cwd or root that cannot be entered may be."""
    try:
        os.stat(path)
        return True
    except PermissionError:
        server.blind = True
        return False
    except OSError:
        return False


def _config(server: AppServer, proc: str, opts: dict, environ: dict | None, unreadable: list[str]) -> dict:
    path = opts.get("config", "")
    if path.startswith("python:"):
        unreadable.append(f"config {path}: a Python module, not a file; not read")
        return {}
    candidate = path or "gunicorn.conf.py"  # gunicorn >= 20 reads ./gunicorn.conf.py
    where = _in_process(proc, server.master, candidate.removeprefix("file:"))
    if not path and not _exists(where, server):
        return {}
    source = _read(where, unreadable, f"gunicorn config {candidate}", server=server)
    if source is None:
        return {}
    config = pyconfig.read(source, environ)
    server.config_file = candidate
    if config.error:
        unreadable.append(f"gunicorn config {candidate}: {config.error}")
    server.config = redact.mapping(config.settings)
    server.config_unresolved = redact.mapping(config.unresolved)
    if environ is None and config.unresolved:
        unreadable.append(f"gunicorn config {candidate}: {', '.join(config.unresolved)} not resolved "
                          "(the process's environment could not be read)")
    return config.settings


def _gunicorn(server: AppServer, proc: str, cmdline: list[str], environ: dict | None,
              unreadable: list[str]) -> None:
    cli = options(cmdline[1:])
    env = options(shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))) if environ else {}
    conf = _config(server, proc, {**env, **cli}, environ, unreadable)
    layers = [("command line", cli), ("GUNICORN_CMD_ARGS", env),
              (f"config {server.config_file}", {k: v for k, v in conf.items() if v is not None})]
    for source, values in layers:
        if values.get("worker_class"):
            server.sources[source] = normalise(values["worker_class"])

    def first(key: str):
        return next((values[key] for _, values in layers if values.get(key) not in (None, "")), None)

    for key, attr in (("workers", "configured_workers"), ("threads", "threads")):
        value = first(key)
        if value is not None and str(value).isdigit():
            setattr(server, attr, int(value))
    bind = first("bind")
    server.bind = [str(b) for b in (bind if isinstance(bind, (list, tuple)) else [bind])] if bind else []
    if not server.bind and "bind" not in server.config_unresolved:
        server.bind = ["127.0.0.1:8000"]  # gunicorn's default
    log = first("errorlog")
    server.error_log = str(log) if log and str(log) != "-" else ""


def _reader(proc: str, server: AppServer, unreadable: list[str]) -> servers.Read:
    """A file as the server's process sees it (its root, its working directory); None if not there."""
    def read(path: str) -> str | None:
        where = _in_process(proc, server.master, path)
        if not _exists(where, server):
            return None
        return _read(where, unreadable, f"{server.server} config {path}", server=server)
    return read


def _apply(server: AppServer, reading: servers.Reading, unreadable: list[str]) -> None:
    if reading.worker_class:
        server.sources[reading.source or server.server] = reading.worker_class
    server.configured_workers, server.threads, server.cores = reading.workers, reading.threads, reading.cores
    server.interface, server.bind, server.error_log = reading.interface, reading.bind, reading.error_log
    server.config_file = ", ".join(reading.config_files)
    server.config = redact.mapping(reading.config)
    unreadable += reading.notes


def decide(server: AppServer, using_worker: str = "") -> None:
    """The worker class and where it comes from: gunicorn's own order, then what runs."""
    if using_worker:
        server.sources["log: Using worker"] = normalise(using_worker)
    if server.modules:
        kinds = sorted({m.group(1) for m in (GREEN.search(p) for p in server.modules) if m})
        server.sources["maps"] = "+".join(kinds)
    for source in server.sources:
        if source != "maps":
            server.worker_class, server.worker_class_from = server.sources[source], source
            break
    else:
        maps = server.sources.get("maps", "")
        if server.server in servers.DEFAULTS and server.blind and not maps:
            server.worker_class_from = "unknown: its environment, config or maps could not be read (run as root)"
        elif server.server in servers.DEFAULTS:
            # eventlet is pure Python: only greenlet's .so shows for it; gevent maps its own
            green = "gevent" if "gevent" in maps else ("eventlet" if "eventlet" in maps else
                                                       ("greenlet" if maps else ""))
            server.worker_class, server.worker_class_from = (green, "maps") if green else \
                servers.DEFAULTS[server.server]
    if server.server == "gunicorn" and server.worker_class == "sync" and (server.threads or 1) > 1:
        server.worker_class = "gthread"  # gunicorn runs sync with threads > 1 as gthread
        server.worker_class_from += " (sync with threads > 1 runs as gthread)"


def find(proc: str = "/proc", unreadable: list[str] | None = None) -> list[AppServer]:
    """Every app server master on this host, with its workers; in this network namespace first."""
    unreadable = unreadable if unreadable is not None else []
    procs = _processes(proc)
    own_ns = _netns(proc, "self")
    found = []
    for pid, (ppid, cmdline) in sorted(procs.items()):
        kind = server_of(cmdline)
        if kind is None or server_of(procs.get(ppid, (0, []))[1]) == kind:
            continue  # not a server, or a worker under its master
        children = sorted(p for p, (pp, argv) in procs.items() if pp == pid and not HELPERS.search(" ".join(argv)))
        server = AppServer(kind, pid, children, cmdline=redact.argv(cmdline))
        ns = _netns(proc, pid)
        server.same_netns = None if ns is None or own_ns is None else ns == own_ns
        environ = _environ(proc, server, unreadable)
        server.environ_read = environ is not None
        server.environ = redact.mapping(environ or {})
        server.unit = _unit(proc, pid)
        if kind == "gunicorn":
            _gunicorn(server, proc, cmdline, environ, unreadable)
        else:
            _apply(server, servers.READERS[kind](cmdline, environ, _reader(proc, server, unreadable)), unreadable)
        for p in [pid, *server.workers[:1]]:
            maps = _read(f"{proc}/{p}/maps", unreadable, f"memory maps of pid {p}", server=server) or ""
            server.modules += sorted({m.group(0) for m in GREEN.finditer(maps)} - set(server.modules))
        found.append(server)
    return sorted(found, key=lambda s: (s.same_netns is False, -len(s.workers)))
