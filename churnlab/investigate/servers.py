"""uwsgi, uvicorn, daphne and granian: how their workers run, read as each
server reads its settings (gunicorn's own reader is churnlab.investigate.procs):

- uwsgi: UWSGI_* environment variables first, then the command line in its
  order, each --ini FILE[:section] (or a bare FILE.ini) read where it stands, its
  `[uwsgi]` section (or the one named), $(VAR) from the process's environment
  and %(option) from what came before; the last value wins, as in uwsgi.
  Model: --gevent N (a greenlet per request), --async N with --greenlet or
  --ugreen, else processes x threads.
- uvicorn: the command line, then UVICORN_* (WEB_CONCURRENCY for --workers);
  ASGI on an asyncio event loop, always.
- daphne: the command line; ASGI on Twisted's asyncio reactor, one process.
- granian: the command line, then GRANIAN_*; --interface asgi|asginl|wsgi|rsgi
  (granian's default: rsgi), workers x blocking threads for WSGI.

Everything is read as text, never run or imported. The readers take a
`read(path)` for the files (a path as the process sees it), so they stay pure.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

ASGI = "asgi"        # the class name of every ASGI server (uvicorn, daphne, granian asgi, gunicorn's UvicornWorker)
THREADS = "threads"  # a fixed pool of OS threads per process (uwsgi processes x threads, granian wsgi)
Read = Callable[[str], "str | None"]


@dataclass
class Reading:
    """What a server's settings say; source: where the deciding value was read."""
    worker_class: str = ""
    source: str = ""
    workers: int | None = None
    threads: int | None = None
    cores: int | None = None          # uwsgi's async cores (greenlets) per process
    interface: str = ""               # wsgi, asgi, rsgi
    bind: list[str] = field(default_factory=list)
    error_log: str = ""
    config_files: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the settings of interest, as read (values of interest only)
    notes: list[str] = field(default_factory=list)  # what could not be read


def pairs(args: list[str], names: dict[str, str], flags: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(key, value) of the options of interest in order: `--name V`, `--name=V`, `-xV`; flags take no value."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in names and eq:
            out.append((names[name], value))
        elif arg in flags:
            out.append((names[arg], "true"))
        elif arg in names and i + 1 < len(args):
            out.append((names[arg], args[i + 1]))
            i += 1
        elif len(arg) > 2 and not arg.startswith("--") and arg[:2] in names and arg[:2] not in flags:
            out.append((names[arg[:2]], arg[2:]))
        i += 1
    return out


def _int(value) -> int | None:
    return int(value) if str(value).strip().isdigit() else None


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on", "y")


# -- uwsgi --------------------------------------------------------------------------------------------------

UWSGI = {"--processes": "processes", "--workers": "processes", "-p": "processes", "--threads": "threads",
         "--gevent": "gevent", "--async": "async", "--greenlet": "greenlet", "--ugreen": "ugreen",
         "--master": "master", "-M": "master", "--http": "http", "--http-socket": "http-socket",
         "--socket": "socket", "-s": "socket", "--uwsgi-socket": "socket", "--https": "https",
         "--ini": "ini", "--logto": "logto", "--daemonize": "daemonize", "--yaml": "yaml", "--json": "json",
         "--xml": "xml", "--gevent-monkey-patch": "gevent-monkey-patch"}
UWSGI_FLAGS = frozenset({"--greenlet", "--ugreen", "--master", "-M", "--gevent-monkey-patch"})
UWSGI_KEYS = frozenset(UWSGI.values())
PLACEHOLDER = re.compile(r"\$\((\w+)\)|%\(([\w-]+)\)")


def ini_section(text: str, section: str, environ: dict | None, seen: dict) -> list[tuple[str, str]]:
    """(option, value) of one section of a uwsgi ini, in order: `key = value`, a bare key is true;
    $(VAR) from the environment, %(option) from what was set before; other magic is kept as written."""
    out = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        if current != section:
            continue
        key, eq, value = line.partition("=")
        key = key.strip().replace("_", "-")

        def sub(m: re.Match) -> str:
            if m.group(1):
                return (environ or {}).get(m.group(1), m.group(0))
            return str(seen.get(m.group(2), m.group(0)))

        value = PLACEHOLDER.sub(sub, value.strip()) if eq else "true"
        seen[key] = value
        out.append((key, value))
    return out


def _bare(before: list[str]) -> bool:
    """Whether the argument after `before` is a bare one (uwsgi loads a bare FILE.ini), not an option's value."""
    last = before[-1] if before else ""
    return not last.startswith("-") or "=" in last or last in UWSGI_FLAGS


def _uwsgi_settings(cmdline: list[str], environ: dict | None, read: Read, reading: Reading):
    """[(source, option, value)] in the order uwsgi applies them."""
    seen: dict = {}
    out = []
    for name, value in sorted((environ or {}).items()):
        if name.startswith("UWSGI_"):
            key = name[6:].lower().replace("_", "-")
            if key in UWSGI_KEYS:
                out.append((name, key, value))
    args = cmdline[1:]
    args = [f"--ini={a}" if a.endswith(".ini") and _bare(args[:i]) else a for i, a in enumerate(args)]
    todo = [("command line", k, v) for k, v in pairs(args, UWSGI, UWSGI_FLAGS)]
    todo = [t for t in out if t[1] == "ini"] + todo  # UWSGI_INI loads its file first
    out = [t for t in out if t[1] != "ini"]
    for source, key, value in todo:
        if key == "ini" and len(reading.config_files) < 8:
            path, _, section = value.partition(":")
            text = read(path)
            if text is None:
                reading.notes.append(f"uwsgi config {path}: not read")
                continue
            reading.config_files.append(path)
            out += [(f"config {path}", k, v) for k, v in ini_section(text, section or "uwsgi", environ, seen)
                    if k in UWSGI_KEYS and k != "ini"]
        elif key in ("yaml", "json", "xml"):
            reading.notes.append(f"uwsgi config {value}: a {key} file, not read (only .ini is)")
        else:
            out.append((source, key, value))
    return out


def uwsgi(cmdline: list[str], environ: dict | None, read: Read) -> Reading:
    reading = Reading(interface="wsgi")
    last: dict[str, tuple[str, str]] = {}
    for source, key, value in _uwsgi_settings(cmdline, environ, read, reading):
        last[key] = (source, value)
    reading.config = {k: v for k, (_, v) in last.items() if k not in ("ini", "yaml", "json", "xml")}
    value = {k: v for k, (_, v) in last.items()}
    reading.workers = _int(value.get("processes", "1"))
    reading.threads = _int(value.get("threads", "1"))
    gevent, cores = _int(value.get("gevent")), _int(value.get("async"))
    if gevent:
        reading.worker_class, reading.cores, decided = "gevent", gevent, "gevent"
    elif cores and (_true(value.get("greenlet", "")) or _true(value.get("ugreen", ""))):
        engine = "greenlet" if _true(value.get("greenlet", "")) else "ugreen"
        reading.worker_class, reading.cores, decided = engine, cores, engine
    elif cores:
        reading.worker_class, reading.cores, decided = "async", cores, "async"
    elif (reading.threads or 1) > 1:
        reading.worker_class, decided = THREADS, "threads"
    else:
        decided = ""
    reading.source = last[decided][0] if decided else ""
    for key in ("http", "http-socket", "https", "socket"):
        if key in value:
            reading.bind.append(value[key].split(",")[0])
    log = value.get("logto") or value.get("daemonize") or ""
    reading.error_log = log if log and "://" not in log and not log.startswith(("127.", "udp")) else ""
    return reading


# -- uvicorn, daphne, granian -------------------------------------------------------------------------------

def _click(cmdline: list[str], environ: dict | None, names: dict[str, str], prefix: str,
           flags: frozenset[str] = frozenset()) -> dict[str, tuple[str, str]]:
    """A click command's options: the command line, else PREFIX_<OPTION> in the environment."""
    values: dict[str, tuple[str, str]] = {}
    for key in set(names.values()):
        env = f"{prefix}_{key.upper().replace('-', '_')}"
        if environ and env in environ:
            values[key] = (env, environ[env])
    values.update({k: ("command line", v) for k, v in pairs(cmdline[1:], names, flags)})
    return values


def _bind(values: dict, host: str, port: str, uds: str = "uds") -> list[str]:
    if uds in values:
        return [f"unix:{values[uds][1]}"]
    return [f"{values.get('host', ('', host))[1]}:{values.get('port', ('', port))[1]}"]


UVICORN = {"--workers": "workers", "--host": "host", "--port": "port", "--uds": "uds", "--loop": "loop",
           "--reload": "reload", "--log-config": "log-config"}


def uvicorn(cmdline: list[str], environ: dict | None, read: Read) -> Reading:
    values = _click(cmdline, environ, UVICORN, "UVICORN", frozenset({"--reload"}))
    if "workers" not in values and environ and "WEB_CONCURRENCY" in environ:
        values["workers"] = ("WEB_CONCURRENCY", environ["WEB_CONCURRENCY"])
    reading = Reading(ASGI, "uvicorn serves ASGI only", interface="asgi", bind=_bind(values, "127.0.0.1", "8000"))
    reading.workers = _int(values.get("workers", ("", "1"))[1])
    reading.config = {k: v for k, (_, v) in values.items()}
    return reading


DAPHNE = {"-b": "host", "--bind": "host", "-p": "port", "--port": "port", "-u": "uds", "--unix-socket": "uds",
          "-e": "endpoint", "--endpoint": "endpoint", "--fd": "fd"}


def daphne(cmdline: list[str], environ: dict | None, read: Read) -> Reading:
    values = {k: ("command line", v) for k, v in pairs(cmdline[1:], DAPHNE)}
    return Reading(ASGI, "daphne serves ASGI only", workers=1, interface="asgi",
                   bind=[values["endpoint"][1]] if "endpoint" in values else _bind(values, "127.0.0.1", "8000"),
                   config={k: v for k, (_, v) in values.items()})


GRANIAN = {"--interface": "interface", "--workers": "workers", "--threads": "threads",
           "--runtime-threads": "runtime-threads", "--blocking-threads": "blocking-threads", "--host": "host",
           "--port": "port", "--uds": "uds"}


def granian(cmdline: list[str], environ: dict | None, read: Read) -> Reading:
    values = _click(cmdline, environ, GRANIAN, "GRANIAN")
    source, interface = values.get("interface", ("", ""))
    interface = interface.lower()
    reading = Reading(interface="asgi" if interface == "asginl" else interface, source=source,
                      workers=_int(values.get("workers", ("", "1"))[1]), bind=_bind(values, "127.0.0.1", "8000"),
                      config={k: v for k, (_, v) in values.items()})
    if reading.interface == "wsgi":
        reading.worker_class = THREADS
        reading.threads = _int(values.get("blocking-threads", ("", ""))[1])  # None: granian's default
    elif reading.interface:
        reading.worker_class = ASGI if reading.interface == "asgi" else reading.interface
    return reading


READERS: dict[str, Callable[[list[str], dict | None, Read], Reading]] = {
    "uwsgi": uwsgi, "uvicorn": uvicorn, "daphne": daphne, "granian": granian}
DEFAULTS = {"gunicorn": ("sync", "gunicorn's default"), "uwsgi": ("sync", "uwsgi's default: processes x 1 thread"),
            "granian": ("rsgi", "granian's default interface")}
