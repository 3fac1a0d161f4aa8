"""A SQL sampler whose psql ends (a db-restart or pgbouncer-kill fault) opens a
new session once the server is back, and says how long it was blind; one that
never comes back is reported as stopped. The psql session is the faked boundary."""
from __future__ import annotations

import threading
import time

from churnlab.compose.recorder import EvidenceRecorder


class Session:
    def __init__(self, world: dict):
        self.world = world
        self.closed = False

    def query(self, sql: str, header: bool = False):
        if self.world["down"]:
            raise OSError("psql ended: server closed the connection unexpectedly")
        return []

    def close(self) -> None:
        self.closed = True


def poll(tmp_path, world: dict, script) -> EvidenceRecorder:
    rec = EvidenceRecorder(stack=None, out=tmp_path / "evidence.jsonl", interval=0.02)  # type: ignore[arg-type]
    rec._file = rec.out.open("a")
    opened: list[Session] = []

    def opener() -> Session:
        if world["down"]:
            raise OSError("psql ended: container is not running")
        opened.append(Session(world))
        return opened[-1]

    rec._openers["postgres"] = opener
    rec._sessions["postgres"] = opener()
    rec._sample = lambda name, session: (session.query("x"), {"ts": time.time(), "source": name})[1]
    thread = threading.Thread(target=rec._poll_sql)
    thread.start()
    script(world)
    rec._stop.set()
    thread.join(5)
    rec._file.close()
    rec.opened = opened
    return rec


def test_a_sampler_comes_back_after_the_server_does(tmp_path):
    def restart(world):
        time.sleep(0.1)
        world["down"] = True
        time.sleep(0.2)
        world["down"] = False
        time.sleep(0.1)

    rec = poll(tmp_path, {"down": False}, restart)
    times = [r["ts"] for r in rec.records]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) >= 0.15 and len([t for t in times if t > times[0] + 0.3]) >= 2  # samples after the gap
    assert len(rec.errors) == 1 and "postgres sampler lost its session (psql ended: server closed" in rec.errors[0]
    assert "was back" in rec.errors[0]
    assert len(rec.opened) == 2 and rec.opened[0].closed  # the dead session closed, one new one


def test_a_sampler_that_never_comes_back_is_reported_stopped(tmp_path):
    def gone(world):
        time.sleep(0.05)
        world["down"] = True
        time.sleep(0.1)

    rec = poll(tmp_path, {"down": False}, gone)
    assert len(rec.errors) == 1 and rec.errors[0].startswith("postgres sampler stopped: psql ended")
    assert "not back after" in rec.errors[0]
