"""OBSERVE=1: Prometheus with the lab's alert rules sees the incident coming.

Under direct + repro and the incident's ab load, the predictive port alert is
firing before the first failed request (the app's first "Cannot assign
requested address", to the millisecond of its log line); under gthread +
repro it never leaves inactive. Both read Prometheus's own /api/v1/alerts,
polled while the load runs (an alert's activeAt is Prometheus's own
evaluation time)."""
import csv
import gzip
import json
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from churnlab.compose import lab
from churnlab.core import catalog
from churnlab.load import run as loadrun

pytestmark = pytest.mark.e2e
PROM_PORT = 19090
PORT_ALERT = "EphemeralPortExhaustionPredicted"
LOAD = loadrun.LoadParams(scenario="ab", vus=500, iterations=6000)


def _get(path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{PROM_PORT}{path}", timeout=3) as resp:
        return json.load(resp)["data"]


def _wait_for_targets(deadline_s: float = 60) -> None:
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
                        self.firing_since[name] = _epoch(alert["activeAt"])
            except OSError:
                pass
            self.stop.wait(0.25)

    def first(self, name: str) -> float | None:
        times = [t for (n, _state), t in self.first_seen.items() if n == name]
        return min(times) if times else None


def _epoch(rfc3339: str) -> float:
    """Prometheus's times ("2026-12-02T19:40:55.123456789Z", nanoseconds) as epoch seconds."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float(f"0.{fraction or 0}")


def _first_status(run_dir, status: str) -> float | None:
    with gzip.open(run_dir / "k6-metrics.csv.gz", "rt", newline="") as f:
        times = [float(r["timestamp"]) for r in csv.DictReader(f)
                 if r.get("metric_name") == "http_reqs" and r.get("status") == status]
    return min(times) if times else None


def _first_failure(run_dir) -> float | None:
    """The app's first "Cannot assign requested address", from its log line's own time (UTC, ms)."""
    for line in (run_dir / "app.log").read_text(errors="replace").splitlines():
        if "Cannot assign requested address" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.replace(tzinfo=timezone.utc).timestamp()
    return None


@pytest.fixture()
def observed(built):
    def run(variant: str):
        lab.down(volumes=True)  # a fresh pgdata: a checkout with another Postgres major may have left one
        stack = lab.up(catalog.Selection.of(variant, "repro", observe=True), prom_port=PROM_PORT)
        _wait_for_targets()
        watch = AlertWatch()
        watch.start()
        try:
            result = loadrun.run(stack, LOAD)
            time.sleep(3)  # the rule's evaluation after the last sample
        finally:
            watch.stop.set()
            watch.join()
        return result, watch

    yield run
    lab.down()


def test_port_alert_fires_before_the_first_failed_request(observed):
    result, watch = observed("direct")
    first_failure = _first_failure(result.run_dir)
    assert first_failure is not None and _first_status(result.run_dir, "499") is not None, result.summary.status_counts
    firing = watch.firing_since.get(PORT_ALERT)
    assert firing is not None, f"{PORT_ALERT} never fired; seen: {sorted(watch.first_seen)}"
    assert firing < first_failure, f"{PORT_ALERT} fired {firing - first_failure:+.2f} s after the first failure"
    assert watch.labels[PORT_ALERT]["name"] == "db:5432"
    print(f"{PORT_ALERT}: firing {first_failure - firing:.2f} s before the first failed request")


def test_port_alert_stays_inactive_under_the_fix(observed):
    result, watch = observed("gthread")
    assert result.summary.status_counts.get("499", 0) == 0, result.summary.status_counts
    assert watch.first(PORT_ALERT) is None, sorted(watch.first_seen)
    assert watch.first("PostgresConnectionChurnHigh") is None, sorted(watch.first_seen)


@pytest.mark.parametrize("rendering,tests_file", [("rules", "churnlab.rules.test.yml"),
                                                  ("production", "churnlab.rules.15s.test.yml")],
                         ids=["1s-lab", "15s-production"])
def test_alert_rules_pass_their_promtool_unit_tests(built, rendering, tests_file):
    """promtool (Debian's, in the observe image) checks the config and each rendering of the rules (the
    lab's 1 s, production's 15 s) and runs its unit tests, series sampled at that interval: the
    predictive port rule fires before the range is full, and series that should not fire do not."""
    prom_dir = Path(__file__).resolve().parents[2] / "config" / "prometheus"
    base = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool",
            "-v", f"{prom_dir}:/etc/churnlab/prometheus:ro", "-w", "/etc/churnlab/prometheus/tests",
            "churnlab/observe:bookworm"]
    checked = subprocess.run([*base, "check", "config", "/etc/churnlab/prometheus/prometheus.yml"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout  # the lab's Prometheus loads the 1 s rendering only
    rules = subprocess.run([*base, "check", "rules", f"../{rendering}/churnlab.rules.yml"],
                           capture_output=True, text=True)
    assert rules.returncode == 0 and "4 rules found" in rules.stdout, rules.stdout + rules.stderr
    tested = subprocess.run([*base, "test", "rules", tests_file], capture_output=True, text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
