"""Faults mid-load on the real lab (gthread + default, 20 VUs, a few thousand requests):
each fault is recorded in run.json, named by the verdict, undone, and the app recovers
without a restart (the last seconds answer 200, no container left paused, stopped,
unhealthy or cut off). A db-restart without and with CONN_HEALTH_CHECKS shows the
lesson: without, each thread's persistent connection fails its next request."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import datetime

import pytest

from churnlab import diagnosis, faults
from churnlab.compose import lab
from churnlab.core import catalog, run_record
from churnlab.core.paths import RESULTS_DIR
from churnlab.evidence import app_errors, timeline
from churnlab.faults import compose as compose_faults
from churnlab.load import run as loadrun
from tests.helpers import ROOT, clean_env, make

pytestmark = pytest.mark.e2e

LOAD = loadrun.LoadParams(scenario="ab", vus=20, iterations=faults.FAULT_ITERATIONS)
AT, FOR, TAIL = 2, 3, 6
STALE = (app_errors.TERMINATED, "server closed the connection")  # a persistent connection the restart broke
RESULTS: dict[str, run_record.RunRecord] = {}


@pytest.fixture(scope="module")
def gthread(built):
    """gthread + default (20 x 40, CONN_MAX_AGE=600, CONN_HEALTH_CHECKS=0, Django's default)."""
    yield lab.up(catalog.Selection.of("gthread", "default"), fresh=True)
    lab.down()


def run_fault(stack, kind: str) -> run_record.RunRecord:
    result = loadrun.run(stack, LOAD, fault=faults.Plan(kind, AT, FOR, TAIL))
    return run_record.read(result.run_dir)


def kinds_after(record: run_record.RunRecord, seconds_after_end: float) -> set[str]:
    """The app's error kinds logged from `seconds_after_end` after the fault ended."""
    end = datetime.fromisoformat(record.fault.ended).timestamp() + seconds_after_end
    evidence = run_record.read_evidence(RESULTS_DIR / record.run_id / run_record.EVIDENCE)
    return {kind.split(" (toward")[0] for r in evidence if r.get("source") == "app_errors" and r["ts"] >= end
            for kind in r["kinds"]}


def assert_recorded_named_recovered(record: run_record.RunRecord, kind: str, stale_drip: bool = False) -> None:
    """stale_drip: without CONN_HEALTH_CHECKS, each thread's stale connection may still fail once in the
    last seconds; then every failure from 1 s after the DB was back must be such a stale one."""
    fault = record.fault
    assert fault is not None and fault.kind == kind and fault.errors == [], fault
    assert fault.started and fault.ended
    held = diagnosis.faults._seconds_between(fault.started, fault.ended)
    assert FOR - 0.5 <= held <= FOR + 10, held
    r = fault.recovery
    assert r.left_broken == [] and r.last_seconds_requests > 0, r
    if stale_drip and not r.recovered:
        assert kinds_after(record, 1.0) <= set(STALE), kinds_after(record, 1.0)
    else:
        assert r.recovered is True and r.last_seconds_failed == 0, r
    assert record.verdict["case"] == diagnosis.FAULT and record.verdict["headline"].startswith(f"fault {kind} ")
    assert not any("EADDRNOTAVAIL" in e["kind"] for e in record.app_errors)


def test_db_pause_through_make_stalls_requests_and_recovers(gthread):
    """Through make, with two generators: FAULT_AT counts from their shared start,
    and the recovery is read from their merged requests."""
    before = set(RESULTS_DIR.glob("*/run.json"))
    proc = make("load", "VUS=20", "LOADGENS=2", "FAULT=db-pause", f"FAULT_AT={AT}s", f"FAULT_FOR={FOR}s",
                f"FAULT_TAIL={TAIL}", timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_json,) = sorted(set(RESULTS_DIR.glob("*/run.json")) - before)
    record = run_record.read(run_json.parent)
    assert_recorded_named_recovered(record, "db-pause")
    assert record.load.iterations == faults.FAULT_ITERATIONS and record.summary["requests"] < 100_000
    assert record.load.loadgens == 2 and sum(g["requests"] for g in record.load.per_loadgen) \
        == record.summary["requests"]
    r = record.fault.recovery
    assert r.slow_during > 0 and r.max_ms_during >= 1000 * (FOR - 1)  # the requests waited for the DB
    diag = make("diagnose", f"RUN={record.run_id}")
    assert diag.returncode == 0 and "verdict (fault): fault db-pause" in diag.stderr, diag.stderr


def test_db_network_cut_fails_or_stalls_and_the_route_comes_back(gthread):
    record = run_fault(gthread, "db-network-cut")
    assert_recorded_named_recovered(record, "db-network-cut")
    assert record.fault.target.startswith("app -> db (")
    unreachable = sum(e["count"] for e in record.app_errors if "No route to host" in e["kind"])
    assert unreachable > 0 or record.fault.recovery.slow_during > 0, record.app_errors
    app = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=churnlab",
                          "--filter", "label=com.docker.compose.service=app"], capture_output=True,
                         text=True, check=True).stdout.strip()
    routes = subprocess.run(["docker", "run", "--rm", "--network", f"container:{app}", "--entrypoint", "ip",
                             "churnlab/app:1", "route"], capture_output=True, text=True, check=True).stdout
    assert "unreachable" not in routes, routes


# -- degradations: nothing dies, everything gets slower ----------------------------------------
SLOW_AT, SLOW_FOR, SLOW_TAIL = 6, 4, 5  # the 4 s before the fault, past the load's first seconds


def container(service: str) -> str:
    return subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project=churnlab",
                           "--filter", f"label=com.docker.compose.service={service}"], capture_output=True,
                          text=True, check=True).stdout.strip()


def db_quota() -> tuple[str, str]:
    """The db container's CPU quota, as the kernel has it (its cgroup's file) and as docker has it."""
    db = container("db")
    path = compose_faults.cpu_quota_file(compose_faults.ComposeFault._pid(db))
    docker = subprocess.run(["docker", "inspect", "--format",
                             "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}", db],
                            capture_output=True, text=True, check=True).stdout.strip()
    return path.read_text().strip(), docker


def lab_rules() -> list[str]:
    """The app namespace's iptables lines naming a CHURNLAB chain."""
    pid = compose_faults.ComposeFault._pid(container("app"))
    saved = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables-save"], capture_output=True, text=True,
                           check=True).stdout
    return [line for line in saved.splitlines() if "CHURNLAB" in line]


class Watcher(threading.Thread):
    """What `read` returns, every 0.2 s, while the load runs."""

    def __init__(self, read):
        super().__init__(daemon=True)
        self.read, self.seen, self.stop = read, [], threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            self.seen.append(self.read())


def run_degradation(stack, chosen: faults.Plan, read) -> tuple[run_record.RunRecord, list]:
    watcher = Watcher(read)
    watcher.start()
    try:
        result = loadrun.run(stack, LOAD, fault=chosen)
    finally:
        watcher.stop.set()
        watcher.join()
    return run_record.read(result.run_dir), watcher.seen


def assert_degraded(record: run_record.RunRecord, kind: str) -> None:
    assert_recorded_named_recovered(record, kind)
    r = record.fault.recovery
    assert r.p95_ms_before is not None and r.p95_ms_during is not None, r
    assert r.p95_ms_during > r.p95_ms_before, r  # the degradation slowed the requests down
    assert f"p95 {r.p95_ms_before:,.0f} -> {r.p95_ms_during:,.0f} ms" in record.verdict["headline"]
    tl = timeline.load(RESULTS_DIR / record.run_id)
    assert tl.fault_kind == kind and tl.fault[1] - tl.fault[0] >= SLOW_FOR - 0.5, tl.fault
    print(f"{kind}: {record.verdict['headline']}")


def test_db_slow_gives_the_db_a_fraction_of_a_cpu_and_restores_its_quota_exactly(gthread):
    before = db_quota()
    record, seen = run_degradation(gthread, faults.Plan("db-slow", SLOW_AT, SLOW_FOR, SLOW_TAIL, db_cpus=0.05),
                                   db_quota)
    assert_degraded(record, "db-slow")
    assert record.fault.db_cpus == 0.05 and "Postgres slowed to 0.05 CPU" in record.verdict["headline"]
    period = 100_000 if before[0].isdigit() or before[0].startswith("-") else int(before[0].split()[1])
    in_place = {q for q, _ in seen if q != before[0]}
    assert in_place and all(q.split()[0] == str(period // 20) for q in in_place), (before, in_place)
    assert {d for _, d in seen} == {before[1]}  # docker's own record is never touched
    assert db_quota() == before


def test_db_lossy_drops_packets_in_a_chain_of_the_labs_own_and_removes_it(gthread):
    assert lab_rules() == []
    record, seen = run_degradation(gthread, faults.Plan("db-lossy", SLOW_AT, SLOW_FOR, SLOW_TAIL, loss_pct=30),
                                   lab_rules)
    assert_degraded(record, "db-lossy")
    assert record.fault.loss_pct == 30 and record.fault.target.startswith("app -> db (")
    # the rules once all in place (a sample may fall between the chain's rule and the OUTPUT jump)
    during = [rules for rules in seen
              if any(line.startswith("-A OUTPUT -d ") and line.endswith("-j CHURNLAB-LOSSY") for line in rules)]
    assert during, seen
    drops = [line.split("--probability ")[1].split()[0] for line in during[0] if "-m statistic" in line]
    assert len(drops) == 1 and abs(float(drops[0]) - 0.3) < 1e-6 and drops[0] != "", during[:1]
    assert lab_rules() == []


@pytest.mark.parametrize("kind, extra, placed, read", [
    ("db-slow", [], lambda before, now: now[0] != before[0], db_quota),
    ("db-lossy", ["FAULT_LOSS_PCT=30"], lambda before, now: bool(now), lab_rules),
])
def test_ctrl_c_during_a_degradation_leaves_no_quota_and_no_rule(gthread, kind, extra, placed, read):
    before, runs = read(), set(RESULTS_DIR.glob("*/run.json"))
    proc = subprocess.Popen(["make", "-s", "load", "VUS=20", f"FAULT={kind}", "FAULT_AT=2", "FAULT_FOR=60",
                             "FAULT_TAIL=5", *extra], cwd=ROOT, env=clean_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not placed(before, read()):
            assert proc.poll() is None and time.monotonic() < deadline, "the fault never took effect"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, err[-2000:]
    assert read() == before  # the quota exactly as it was; no rule, no chain of the lab's
    (run_json,) = sorted(set(RESULTS_DIR.glob("*/run.json")) - runs)
    record = run_record.read(run_json.parent)
    assert record.status == run_record.INTERRUPTED and record.fault.kind == kind, record.status
    assert record.fault.started and record.fault.ended and record.fault.errors == [], record.fault
    assert record.fault.recovery.left_broken == [], record.fault.recovery


def test_db_restart_without_health_checks_fails_each_threads_next_request(gthread):
    record = run_fault(gthread, "db-restart")
    assert_recorded_named_recovered(record, "db-restart", stale_drip=True)
    assert record.app_settings["CONN_HEALTH_CHECKS"] == "0"
    # after the DB was back, requests still failed on the connections the restart broke
    assert record.fault.recovery.failed_after > 0 and kinds_after(record, 0.0) & set(STALE), record.fault
    assert any(f["shown_by"].endswith("CONN_HEALTH_CHECKS=1") for f in record.verdict["fixes"])
    # the Postgres sampler lost its psql with the server, and came back: samples after the fault
    back = datetime.fromisoformat(record.fault.ended).timestamp()
    evidence = run_record.read_evidence(RESULTS_DIR / record.run_id / run_record.EVIDENCE)
    assert any(r.get("source") == "postgres" and r["ts"] > back for r in evidence)
    assert any(p.startswith("postgres sampler lost its session") for p in record.problems), record.problems
    RESULTS["without"] = record


def test_db_restart_with_health_checks_fails_no_request_on_a_stale_connection(gthread):
    stack = lab.up(catalog.Selection.of("gthread", "default", {"CONN_HEALTH_CHECKS": "1"}))
    record = run_fault(stack, "db-restart")
    assert_recorded_named_recovered(record, "db-restart")
    assert record.app_settings["CONN_HEALTH_CHECKS"] == "1"
    # only requests in flight while the DB went down failed on their connection; none after it was back
    assert record.fault.recovery.failed_after == 0 and kinds_after(record, 0.0) == set(), record.fault
    without = RESULTS.get("without")
    if without is not None:  # the difference, in failed requests after the DB was back
        assert record.fault.recovery.failed_after < without.fault.recovery.failed_after
        print(f"db-restart failed requests: without CONN_HEALTH_CHECKS {without.summary['error_rate']:.2%} "
              f"({without.fault.recovery.failed_during} during, {without.fault.recovery.failed_after} after); "
              f"with {record.summary['error_rate']:.2%} ({record.fault.recovery.failed_during} during, "
              f"{record.fault.recovery.failed_after} after); load average {os.getloadavg()}")
