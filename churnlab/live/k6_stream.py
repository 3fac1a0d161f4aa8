"""k6's samples as they happen: every sample a JSON line (`--out json=`) into a FIFO in
the run folder, so no file grows on disk, and only the http_reqs lines are decoded (K6Stream)."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import threading
import time
from collections import deque
from pathlib import Path

from churnlab.core import files
from churnlab.core.paths import ROOT

FIFO_NAME = ".k6-live.fifo"  # in the run folder, /results/ inside k6's container; removed when the load ends
PIPE_SIZE = 1 << 20      # F_SETPIPE_SZ: 1 MiB of k6 lines may wait before k6 would block on the FIFO
_F_SETPIPE_SZ = 1031
SCENARIOS_JS = ROOT / "k6" / "scenarios.js"


def error_kind(tags: dict) -> str | None:
    """A failed request's kind from k6's tags: the HTTP status, or for no answer k6's error in short."""
    status = str(tags.get("status", ""))
    if tags.get("expected_response") == "true" or status.startswith(("2", "3")):
        return None
    if status and status != "0":
        return status
    error = str(tags.get("error") or tags.get("error_code") or "no answer")
    return error.rsplit(": ", 1)[-1][:40]


def ramp_duration(script: Path = SCENARIOS_JS) -> float | None:
    """The ramp scenario's duration, from the k6 script's own default (RAMP_DURATION)."""
    try:
        found = re.search(r"RAMP_DURATION\s*\|\|\s*'(\d+)s'", script.read_text())
    except OSError:
        return None
    return float(found.group(1)) if found else None


class K6Stream:
    """Reads k6's JSON lines from a FIFO: requests and failures per second, by kind.

    The FIFO is opened read-write, so neither side's open blocks and k6 never
    sees it closed; the reader drains it until told to stop, whatever a line
    holds, so k6 is never held up by it."""

    def __init__(self, path: Path, scenario: str) -> None:
        self.path = path
        self.scenario = scenario
        self.done = 0
        self.errors_total = 0
        self.per_second: deque[tuple[int, int, dict[str, int]]] = deque(maxlen=5)  # (second, requests, errors)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fd: int | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> bool:
        try:
            os.mkfifo(self.path, 0o600)
            files.chown_if_root([self.path], self.path.parent.stat().st_uid, self.path.parent.stat().st_gid)
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self._fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError as exc:
            self.error = f"k6 live figures not available: {exc}"
            return False
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _read(self) -> None:
        buffer = b""
        assert self._fd is not None
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.5)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    chunk = b""
            if not chunk:
                if self._stop.is_set():
                    return
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            try:
                self.feed(lines)
            except Exception as exc:  # noqa: BLE001 - keep draining: k6 must never block on us
                self.error = f"k6 live figures: {exc}"

    def feed(self, lines: list[bytes], now: float | None = None) -> None:
        """Count the http_reqs points of the scenario among k6's JSON lines."""
        second = int(now if now is not None else time.time())
        requests, errors = 0, {}
        for line in lines:
            if b'"http_reqs"' not in line or b'"Point"' not in line:
                continue
            try:
                tags = json.loads(line).get("data", {}).get("tags", {})
            except (ValueError, AttributeError):  # a line cut short: skip it, count the rest
                continue
            if tags.get("scenario") != self.scenario:  # setup()'s smoke request is not the load
                continue
            requests += 1
            kind = error_kind(tags)
            if kind:
                errors[kind] = errors.get(kind, 0) + 1
        if not requests:
            return
        with self._lock:
            self.done += requests
            self.errors_total += sum(errors.values())
            if self.per_second and self.per_second[-1][0] == second:
                _, n, kinds = self.per_second.pop()
                requests += n
                errors = {k: errors.get(k, 0) + kinds.get(k, 0) for k in {*errors, *kinds}}
            self.per_second.append((second, requests, errors))

    def last_second(self, now: float | None = None) -> tuple[int, dict[str, int]]:
        """Requests and errors by kind in the last whole second (0 when k6 said nothing in it)."""
        wanted = int(now if now is not None else time.time()) - 1
        with self._lock:
            for second, requests, errors in self.per_second:
                if second == wanted:
                    return requests, dict(errors)
        return 0, {}
