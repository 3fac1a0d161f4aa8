"""Prometheus's own alerts, watched while a test's load runs (OBSERVE=1 stacks).

An alert's activeAt is Prometheus's own evaluation time; the app's first failed
request is its log line's own time: tests/e2e/test_variants.py compares them."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone

PROM_PORT = 19090
PORT_ALERT = "EphemeralPortExhaustionPredicted"
CHURN_ALERT = "PostgresConnectionChurnHigh"


def _get(path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{PROM_PORT}{path}", timeout=3) as resp:
        return json.load(resp)["data"]


def wait_for_targets(deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            health = {t["labels"]["job"]: t["health"] for t in _get("/api/v1/targets")["activeTargets"]}
            sampled = _get("/api/v1/query?query=churnlab_ephemeral_port_range_size")["result"]
            if health.get("node") == "up" and health.get("postgres") == "up" and sampled:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"Prometheus targets not up within {deadline_s} s")


class AlertWatch(threading.Thread):
    """Polls /api/v1/alerts; keeps the first time each (alert, state) was seen."""

    def __init__(self):
        super().__init__(daemon=True)
        self.first_seen: dict[tuple[str, str], float] = {}
        self.labels: dict[str, dict] = {}
        self.firing_since: dict[str, float] = {}  # Prometheus's activeAt of a firing alert (no `for:`)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                for alert in _get("/api/v1/alerts")["alerts"]:
                    name = alert["labels"]["alertname"]
                    self.first_seen.setdefault((name, alert["state"]), time.time())
                    self.labels.setdefault(name, alert["labels"])
                    if alert["state"] == "firing" and name not in self.firing_since:
                        self.firing_since[name] = epoch(alert["activeAt"])
            except OSError:
                pass
            self.stop.wait(0.25)

    def first(self, name: str) -> float | None:
        times = [t for (n, _state), t in self.first_seen.items() if n == name]
        return min(times) if times else None


@contextmanager
def watching(until_firing: str | None = None):
    """Prometheus's targets up first; the alerts polled for the block and 3 s after it (the rules'
    evaluation after the last sample), or only until `until_firing` fires: a test that waits for
    that alert has nothing left to see once it has."""
    wait_for_targets()
    watch = AlertWatch()
    watch.start()
    try:
        yield watch
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not (until_firing and until_firing in watch.firing_since):
            time.sleep(0.1)
    finally:
        watch.stop.set()
        watch.join()


def epoch(rfc3339: str) -> float:
    """Prometheus's times ("2026-12-02T19:40:55.123456789Z", nanoseconds) as epoch seconds."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float(f"0.{fraction or 0}")


def first_failure(run_dir) -> float | None:
    """The app's first "Cannot assign requested address", from its log line's own time (UTC, ms)."""
    for line in (run_dir / "app.log").read_text(errors="replace").splitlines():
        if "Cannot assign requested address" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.replace(tzinfo=timezone.utc).timestamp()
    return None
