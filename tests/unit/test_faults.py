"""Faults mid-load, without Docker: the plan's checks (through the real command line),
the timer (with a fake injector: a boundary of our own), the recovery read from a
k6 per-request CSV, the record and the verdict."""
from __future__ import annotations

import csv
import gzip
import json
import threading
import time
from datetime import datetime, timezone

import pytest

from churnlab import diagnosis, faults
from churnlab.core import run_record
from churnlab.core.errors import LabError
from churnlab.evidence import timeline
from churnlab.load import run as loadrun


# -- the plan ------------------------------------------------------------------------
@pytest.mark.parametrize("env, message", [
    ({"FAULT": "db-explode"}, "unknown FAULT 'db-explode'; valid FAULTs: db-restart, db-pause, pgbouncer-kill, "
                              "db-network-cut"),
    ({"FAULT": "db-pause", "FAULT_AT": "0"}, "FAULT_AT='0' must be a whole number from 1 to 3600"),
    ({"FAULT": "db-pause", "FAULT_AT": "5m"}, "FAULT_AT='5m'"),
    ({"FAULT": "db-pause", "FAULT_FOR": "601s"}, "FAULT_FOR='601s' must be a whole number from 1 to 600"),
    ({"FAULT": "db-pause", "FAULT_TAIL": "2"}, "FAULT_TAIL='2' must be a whole number from 3 to 600"),
    ({"FAULT_AT": "5"}, "FAULT_AT='5' needs FAULT=<kind>"),
    ({"FAULT": "db-pause", "VUS": "0"}, "VUS='0'"),
])
def test_a_bad_fault_is_one_line_exit_2_and_starts_nothing(cli, started, env, message):
    out = cli("load", **env)
    assert out.code == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert started == []


def test_seconds_take_an_s_and_the_defaults_fill_in():
    assert faults.plan("db-restart", "3s", "4", "") == faults.Plan("db-restart", 3, 4, 15)
    assert faults.plan("db-pause") == faults.Plan("db-pause", 10, 10, 15)
    assert faults.plan("") is None
    assert faults.k6_args(faults.Plan("db-pause", 3, 4, 5)) == ["-e", "MAX_DURATION=12s"]


def test_pgbouncer_kill_needs_pgbouncer_and_a_cut_needs_tcp():
    kill = faults.Plan("pgbouncer-kill", 1, 1, 3)
    with pytest.raises(LabError, match="FAULT=pgbouncer-kill needs a PgBouncer variant .* 'gthread', which has no"):
        faults.check_fits(kill, "gthread", {"DB_HOST": "db"}, ["app", "db"])
    faults.check_fits(kill, "pgbouncer", {"DB_HOST": "pgbouncer"}, ["app", "db", "pgbouncer"])
    cut = faults.Plan("db-network-cut", 1, 1, 3)
    with pytest.raises(LabError, match="over a Unix socket"):
        faults.check_fits(cut, "pgbouncer-local", {"DB_HOST": "/run/pgbouncer"}, ["app", "db", "pgbouncer"])


def test_pgbouncer_kill_on_a_lab_without_pgbouncer_starts_nothing(cli, monkeypatch):
    """The refusal comes after reading the running lab's state, before any load or fault."""
    from churnlab.compose import lab
    from churnlab.compose.stack import Stack
    from churnlab.core import catalog
    from churnlab.load import run as loadrun

    stack = Stack(catalog.Selection.of("gthread", "default"))
    monkeypatch.setattr(lab, "current_stack", lambda: stack)
    monkeypatch.setattr(Stack, "app_settings", lambda self: {"DB_HOST": "db"})
    monkeypatch.setattr(Stack, "running_services", lambda self: ["app", "db"])
    monkeypatch.setattr(loadrun, "run", lambda *a, **k: pytest.fail("the load started"))
    out = cli("load", FAULT="pgbouncer-kill")
    assert out.code == 2 and len(out.stderr.splitlines()) == 1 and "needs a PgBouncer variant" in out.stderr


# -- the timer -----------------------------------------------------------------------
class FakeInjector:
    target = "db"

    def __init__(self, fail_inject: bool = False):
        self.calls: list[tuple[str, float]] = []
        self.fail_inject = fail_inject

    def inject(self) -> None:
        self.calls.append(("inject", time.monotonic()))
        if self.fail_inject:
            raise OSError("docker stop failed: boom")

    def undo(self) -> None:
        self.calls.append(("undo", time.monotonic()))

    def left_broken(self) -> list[str]:
        return []


def test_the_fault_starts_at_lasts_for_and_is_undone_once():
    fake = FakeInjector()
    began = time.monotonic()
    with faults.FaultTimer(faults.Plan("db-pause", 0.2, 0.3, 3), fake) as t:
        time.sleep(0.8)
    assert [c for c, _ in fake.calls] == ["inject", "undo"]
    assert 0.15 <= fake.calls[0][1] - began <= 0.5
    assert 0.25 <= fake.calls[1][1] - fake.calls[0][1] <= 0.6
    assert t.record.started and t.record.ended and t.record.errors == []
    assert t.record.kind == "db-pause" and t.record.planned_at_s == 0.2 and t.record.target == "db"


def test_with_several_generators_at_counts_from_their_shared_start():
    """LOADGENS > 1: the generators begin together a lead ahead (loadrun.k6.start_lead),
    and FAULT_AT counts from there, as does the record's load start."""
    fake = FakeInjector()
    timer = faults.FaultTimer(faults.Plan("db-pause", 0.1, 0.1, 3), fake)
    timer.offset_s = 0.3
    began, entered = time.monotonic(), datetime.now(timezone.utc)
    with timer as t:
        time.sleep(0.8)
    assert 0.35 <= fake.calls[0][1] - began <= 0.7
    assert 0.25 <= (datetime.fromisoformat(t.record.load_started) - entered).total_seconds() <= 0.4
    assert loadrun.k6.start_lead(1) == 0 and loadrun.k6.start_lead(2) == loadrun.k6.START_LEAD_S + 2


def test_a_load_that_ends_before_at_injects_nothing():
    fake = FakeInjector()
    with faults.FaultTimer(faults.Plan("db-restart", 5, 5, 3), fake) as t:
        pass
    assert fake.calls == [] and t.record.started is None and t.record.ended is None


def test_a_load_that_ends_during_the_fault_undoes_it_at_once():
    fake = FakeInjector()
    began = time.monotonic()
    with faults.FaultTimer(faults.Plan("db-restart", 0.1, 30, 3), fake):
        time.sleep(0.3)
    assert [c for c, _ in fake.calls] == ["inject", "undo"] and time.monotonic() - began < 2


def test_ctrl_c_during_the_fault_still_undoes_it():
    fake = FakeInjector()
    with pytest.raises(KeyboardInterrupt):
        with faults.FaultTimer(faults.Plan("db-network-cut", 0.05, 30, 3), fake):
            time.sleep(0.3)
            raise KeyboardInterrupt
    assert [c for c, _ in fake.calls] == ["inject", "undo"]


def test_a_failed_injection_is_recorded_and_still_undone():
    fake = FakeInjector(fail_inject=True)
    with faults.FaultTimer(faults.Plan("db-restart", 0.05, 0.1, 3), fake) as t:
        time.sleep(0.4)
    assert [c for c, _ in fake.calls] == ["inject", "undo"]
    assert t.record.started is None and t.record.ended
    assert t.record.errors == ["putting db-restart in place failed: docker stop failed: boom"]


def test_the_undo_runs_once_when_exit_races_the_timer():
    fake = FakeInjector()
    timers = [faults.FaultTimer(faults.Plan("db-pause", 0.01, 0.01 * i, 3), fake) for i in range(1, 6)]
    for t in timers:
        with t:
            time.sleep(0.03)
    assert [c for c, _ in fake.calls] == ["inject", "undo"] * 5
    assert threading.active_count() < 5 + 2


# -- the recovery, from k6's CSV -----------------------------------------------------
T0 = 1_800_000_000  # whole seconds, UTC


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def write_csv(run_dir, per_second: dict[int, tuple[int, int, float]]) -> None:
    """{second offset: (ok, failed, duration ms)} as k6's CSV output."""
    with gzip.open(run_dir / timeline.K6_CSV, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric_name", "timestamp", "metric_value", "scenario", "status"])
        w.writerow(["http_reqs", T0 - 1, 1, "", "200"])  # setup()'s smoke request: no scenario
        for offset, (ok, bad, ms) in per_second.items():
            for status, n in (("200", ok), ("499", bad)):
                for _ in range(n):
                    w.writerow(["http_reqs", T0 + offset, 1, "ab", status])
                    w.writerow(["http_req_duration", T0 + offset, ms, "ab", status])


def fault_record(start: float, end: float) -> run_record.Fault:
    return run_record.Fault(kind="db-restart", planned_at_s=3, planned_for_s=3, target="db",
                            load_started=iso(T0 - 1), started=iso(T0 + start), ended=iso(T0 + end))


def test_recovery_counts_failures_during_and_after_and_checks_the_last_seconds(tmp_path):
    seconds = {s: (100, 0, 5.0) for s in range(0, 12)}
    seconds.update({3: (10, 40, 5.0), 4: (0, 50, 5.0), 5: (0, 30, 2500.0), 6: (80, 20, 5.0), 7: (95, 5, 5.0)})
    write_csv(tmp_path, seconds)
    r = faults.recovery(tmp_path, fault_record(3.2, 5.9), [])
    assert (r.failed_during, r.failed_after) == (120, 25)
    assert r.last_failure_after_end_s == pytest.approx(2.1)
    assert r.slow_during == 30 and r.max_ms_during == 2500.0
    assert (r.last_seconds, r.last_seconds_requests, r.last_seconds_failed) == (3, 300, 0)
    assert r.recovered is True


def test_not_recovered_when_the_last_seconds_fail_or_something_is_left(tmp_path):
    seconds = {s: (100, 0, 5.0) for s in range(0, 12)}
    seconds[11] = (90, 10, 5.0)
    write_csv(tmp_path, seconds)
    assert faults.recovery(tmp_path, fault_record(3, 5), []).recovered is False
    write_csv(tmp_path, {s: (100, 0, 5.0) for s in range(0, 12)})
    r = faults.recovery(tmp_path, fault_record(3, 5), ["db: paused"])
    assert r.recovered is False and r.left_broken == ["db: paused"]


def test_recovery_is_not_measured_when_the_load_ends_with_the_fault(tmp_path):
    write_csv(tmp_path, {s: (100, 0, 5.0) for s in range(0, 6)})
    assert faults.recovery(tmp_path, fault_record(3, 5), []).recovered is None
    never = run_record.Fault(kind="db-pause", started=None)
    assert faults.recovery(tmp_path, never, []).recovered is None


# -- the record and the verdict ------------------------------------------------------
def test_the_fault_round_trips_and_old_folders_have_none(tmp_path):
    fault = fault_record(3, 6)
    fault.recovery = run_record.Recovery(recovered=True, last_seconds=3, failed_after=7, left_broken=[])
    record = run_record.RunRecord(run_id="r1", fault=fault)
    run_record.write(tmp_path, record)
    assert run_record.read(tmp_path) == record
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["fault"]["kind"] == "db-restart" and data["fault"]["recovery"]["failed_after"] == 7
    del data["fault"]
    (tmp_path / "run.json").write_text(json.dumps(data))
    assert run_record.read(tmp_path).fault is None


def facts(errors: list[dict], failed: int, fault: run_record.Fault, **settings) -> diagnosis.Facts:
    from dataclasses import asdict

    return diagnosis.Facts(settings={"WORKER_CLASS": "gthread", "WORKERS": "20", "THREADS": "40",
                                     "CONN_MAX_AGE": "600", "CONN_HEALTH_CHECKS": "0", **settings},
                           variant="gthread", profile="default", requests=5000, failed=failed, errors=errors,
                           port_range_size=28232, peak_ports_in_use=120, fault=asdict(fault))


RESTART_ERRORS = [{"kind": "terminating connection due to administrator command", "target": "", "count": 300},
                  {"kind": "name resolution: could not translate host name", "target": "", "count": 90}]


def test_the_verdict_names_the_fault_its_signature_and_the_recovery():
    fault = fault_record(3, 6)
    fault.recovery = run_record.Recovery(recovered=True, last_seconds=3, last_seconds_requests=900,
                                         failed_during=90, failed_after=300, last_failure_after_end_s=1.0)
    v = diagnosis.diagnose(facts(RESTART_ERRORS, 390, fault))
    assert v.case == diagnosis.FAULT
    assert v.headline.startswith("fault db-restart (Postgres stopped and started again) at 4.0 s for 3.0 s")
    assert "390 of 5,000 requests failed" in v.headline
    assert "300 x terminating connection due to administrator command" in v.headline
    text = v.text()
    assert "recovery: recovered without a restart: the last 3 s answered 900 requests, 0 failed" in text
    assert "nothing left broken" in text and "not port exhaustion: no EADDRNOTAVAIL" in text
    assert "without CONN_HEALTH_CHECKS" in text
    assert [f.shown_by for f in v.fixes] == ["VARIANT=gthread CONN_HEALTH_CHECKS=1"]
    healthy = diagnosis.diagnose(facts([], 0, fault, CONN_HEALTH_CHECKS="1"))
    assert healthy.case == diagnosis.FAULT and healthy.fixes == []
    assert "CONN_HEALTH_CHECKS=1: persistent connections are checked before reuse" in healthy.evidence


def test_port_exhaustion_stays_the_verdict_with_the_fault_beside_it():
    fault = fault_record(3, 6)
    errors = [{"kind": "EADDRNOTAVAIL: Cannot assign requested address", "target": "db:5432", "count": 800},
              *RESTART_ERRORS]
    v = diagnosis.diagnose(facts(errors, 1190, fault, CONN_MAX_AGE="0", WORKER_CLASS="eventlet"))
    assert v.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert v.evidence[0].startswith("also: fault db-restart")


def test_a_fault_that_never_took_effect_says_so():
    v = diagnosis.diagnose(facts([], 0, run_record.Fault(kind="db-pause", planned_at_s=30, planned_for_s=5)))
    assert v.case == diagnosis.FAULT and "planned at 30 s never took effect" in v.headline


def test_the_timeline_marks_the_fault_window(tmp_path):
    write_csv(tmp_path, {s: (10, 0, 5.0) for s in range(0, 10)})
    run_record.write(tmp_path, run_record.RunRecord(run_id="r1", fault=fault_record(3.0, 6.5)))
    tl = timeline.load(tmp_path)
    assert tl.fault == (3.0, 6.5) and tl.fault_kind == "db-restart"
