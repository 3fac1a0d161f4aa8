"""Where an owner's PgBouncer listens and how it authenticates, read before the lab writes.

Run on the PgBouncer host by the pgbouncer role (python3 -I -c, standard
library only) where the PgBouncer there is the owner's, with a JSON object on
stdin:
    {"path": "/etc/pgbouncer/pgbouncer.ini", "skip": "/etc/pgbouncer/churnlab.ini",
     "addresses": ["10.0.0.5", "127.0.0.1"], "port": 6432, "socket_dir": "/var/run/postgresql",
     "auth_file": "/etc/pgbouncer/userlist.txt"}
The lab adds a [databases] entry and its users (plain passwords, in
auth_file) and leaves the service's settings alone: so the app reaches
PgBouncer only where the owner's [pgbouncer] section listens on every
address the app uses (or on all: *), on the lab's port, in the lab's socket
directory where the app uses the Unix socket (no addresses), and reads the
lab's users from auth_file with a password method. Where it does not, one
line names the setting and its value; nothing otherwise. Exit code 0 either
way: the role turns the line into its failure.
"""
import json
import os
import sys

# PgBouncer's own defaults for what the file does not say (pgbouncer.ini(5)).
DEFAULTS = {"listen_addr": "", "listen_port": "6432", "unix_socket_dir": "/tmp", "auth_type": "md5",
            "auth_file": ""}
PASSWORD_METHODS = ("md5", "scram-sha-256", "plain", "trust")


def lines(path: str, skip: str, seen: tuple = ()):
    """The file's lines as PgBouncer reads them: each %include's lines in its place (the lab's own left out)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("%include"):
            included = line[len("%include"):].strip()
            if included and os.path.realpath(included) != os.path.realpath(skip) and included not in seen:
                yield from lines(included, skip, (*seen, path))
        elif line and line[0] not in ";#":
            yield line


def settings(path: str, skip: str) -> dict:
    """The [pgbouncer] section's settings: the later value wins."""
    out, section = {}, ""
    for line in lines(path, skip):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif section == "pgbouncer" and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip().lower()] = value.strip()
    return out


def problem(request: dict) -> str:
    s = {**DEFAULTS, **settings(request["path"], request.get("skip", ""))}
    where = f"the owner's PgBouncer ({request['path']})"
    listening = {a.strip() for a in s["listen_addr"].split(",") if a.strip()}
    missing = [a for a in request["addresses"] if not ({"*", a} & listening or
                                                       ("0.0.0.0" in listening and ":" not in a))]
    if missing:
        return (f"{where} does not listen on {', '.join(missing)}, where the app connects "
                f"(listen_addr = {s['listen_addr'] or '(none)'}): the lab leaves its settings alone")
    if str(s["listen_port"]) != str(request["port"]):
        return (f"{where} listens on port {s['listen_port']}, the app connects to {request['port']} "
                f"(listen_port): the lab leaves its settings alone")
    if not request["addresses"] and os.path.normpath(s["unix_socket_dir"]) != os.path.normpath(request["socket_dir"]):
        return (f"{where} puts its socket in {s['unix_socket_dir'] or '(none)'}, the app looks in "
                f"{request['socket_dir']} (unix_socket_dir): the lab leaves its settings alone")
    if s["auth_type"] not in PASSWORD_METHODS:
        return (f"{where} authenticates with auth_type = {s['auth_type']}, not a password from its auth_file: "
                f"the lab's users could not log in")
    if os.path.normpath(s["auth_file"] or "/") != os.path.normpath(request["auth_file"]):
        return (f"{where} reads its users from auth_file = {s['auth_file'] or '(none)'}, not "
                f"{request['auth_file']}, where the lab adds its users")
    return ""


if __name__ == "__main__":
    print(problem(json.load(sys.stdin)))
