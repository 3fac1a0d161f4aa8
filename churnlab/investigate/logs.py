"""The app's errors from its journal (`journalctl -u UNIT`, read-only) or a log
file: counts by kind (churnlab.evidence.app_errors' kinds, matched anywhere in a
line: an app the lab did not write has no marker), first and last times, the
errors per second (for the port budget) and gunicorn's "Using worker:" line.
Lines are counted, never kept: a log holds what a snapshot must not."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone

from churnlab.evidence import app_errors

JOURNAL_LINES = 200_000      # the journal's last lines read (a busy incident logs one line per failure)
LOG_TAIL_BYTES = 64 * 2**20  # a log file's last 64 MiB
USING_WORKER = re.compile(r"Using worker: ([\w.:#]+)")


@dataclass
class Errors:
    source: str = ""      # "journal unit app.service", "log /var/log/app.log"; "" when none was read
    lines: int = 0        # lines read
    kinds: list[dict] = field(default_factory=list)       # {kind, target, count, first, last} (UTC, ISO)
    per_second: list[dict] = field(default_factory=list)  # app_errors.per_second's records
    using_worker: str = ""                                 # the last "Using worker: X"
    resolved: dict = field(default_factory=dict)          # "db:5432": "172.18.0.2:5432", as libpq named them

    def records(self) -> list[dict]:
        """[{kind, target, count}]: what the verdict counts (Facts.errors)."""
        return [{"kind": k["kind"], "target": k["target"], "count": k["count"]} for k in self.kinds]


def iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_lines(lines: list[str], source: str) -> Errors:
    counts = app_errors.count(lines, anywhere=True)
    seconds = app_errors.per_second(lines, anywhere=True)
    errors = Errors(source=source, lines=len(lines), per_second=seconds,
                    resolved=app_errors.resolved_targets(lines))
    for key, n in counts.most_common():
        times = [r["ts"] for r in seconds if key.label() in r["kinds"]]
        errors.kinds.append({"kind": key.kind, "target": key.target, "count": n,
                             "first": iso(min(times, default=None)), "last": iso(max(times, default=None))})
    for line in reversed(lines):
        if m := USING_WORKER.search(line):
            errors.using_worker = m.group(1)
            break
    return errors


def read_file(path: str) -> list[str]:
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - LOG_TAIL_BYTES))
        data = f.read()
    lines = data.decode(errors="replace").splitlines()
    lines = lines[1:] if size > LOG_TAIL_BYTES else lines  # the first line was cut
    return [_unwrapped(line) for line in lines] if lines and lines[-1].startswith('{"log":') else lines


def _unwrapped(line: str) -> str:
    """A line of Docker's json-file log ({"log": "...", "time": ...}) as the app wrote it."""
    try:
        return str(json.loads(line).get("log", line)).rstrip("\n")
    except (ValueError, AttributeError):
        return line


def read_journal(unit: str, unreadable: list[str], since: int | None = None) -> list[str] | None:
    """The unit's last lines (since `since`, epoch seconds, if given), UTC stamps; None (and why) when the
    journal could not be read."""
    if not shutil.which("journalctl"):
        unreadable.append(f"journal of {unit}: journalctl is not installed")
        return None
    try:
        window = ["--since", f"@{since}"] if since else []
        proc = subprocess.run(["journalctl", "-u", unit, "--no-pager", "--utc", "-o", "short-iso", "-n",
                               str(JOURNAL_LINES), *window], capture_output=True, text=True, errors="replace",
                              timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unreadable.append(f"journal of {unit}: {exc}")
        return None
    if proc.returncode != 0:
        unreadable.append(f"journal of {unit}: journalctl exited {proc.returncode}: "
                          f"{' '.join(proc.stderr.split())[:200]}")
        return None
    if "insufficient permissions" in proc.stderr or "not seeing messages" in proc.stderr:
        unreadable.append(f"journal of {unit}: only part of it could be read (run as root, or in group "
                          "systemd-journal or adm)")
    return proc.stdout.splitlines()
