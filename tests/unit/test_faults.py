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
from churnlab.core import bounds, run_record
from churnlab.core.errors import LabError
from churnlab.evidence import timeline
from churnlab.faults import compose as compose_faults
from churnlab.faults.plan import LAST_SECONDS
from churnlab.load import run as loadrun


# -- the plan ------------------------------------------------------------------------
@pytest.mark.parametrize("env, message", [
    ({"FAULT": "db-explode"}, "unknown FAULT 'db-explode'; valid FAULTs: db-restart, db-pause, pgbouncer-kill, "
                              "db-network-cut"),
    ({"FAULT": "db-pause", "FAULT_AT": "0"}, "FAULT_AT='0' must be a whole number from 1 to 3600"),
    ({"FAULT": "db-pause", "FAULT_AT": "5m"}, "FAULT_AT='5m'"),
    ({"FAULT": "db-pause", "FAULT_FOR": "601s"}, "FAULT_FOR='601s' must be a whole number from 1 to 600"),
    ({"FAULT": "db-pause", "FAULT_TAIL": "2"}, "FAULT_TAIL='2' must be a whole number from 5 to 600"),
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


def test_the_shortest_tail_leaves_room_to_measure_the_recovery():
    """The last LAST_SECONDS whole seconds must all fall after the fault's end: the undo and k6's
    whole seconds take up to 2 more (a 3 s tail read "not measured" in a CI run)."""
    assert bounds.RANGES["FAULT_TAIL"].low >= LAST_SECONDS + 2


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


# -- docker pause on a busy machine -----------------------------------------------------
FREEZE = "docker pause failed: Error response from daemon: OCI runtime pause failed: unable to freeze: unknown"


@pytest.mark.parametrize("answers, calls, raised", [
    ([FREEZE, None], 2, None),                    # runc gave up once, thawed; the second try froze it
    ([FREEZE, FREEZE, FREEZE], 3, FREEZE),        # never: the fault's error says why
    (["docker pause failed: No such container: x"], 1, "No such container"),  # not tried again
])
def test_docker_pause_is_tried_again_only_when_runc_could_not_freeze(monkeypatch, answers, calls, raised):
    seen = []

    def docker(*args, **kwargs):  # the Docker CLI: a boundary
        seen.append(args)
        if answers[len(seen) - 1]:
            raise OSError(answers[len(seen) - 1])
        return ""

    monkeypatch.setattr(compose_faults, "_docker", docker)
    monkeypatch.setattr(compose_faults.time, "sleep", lambda s: None)
    if raised:
        with pytest.raises(OSError, match=raised):
            compose_faults._pause("x")
    else:
        compose_faults._pause("x")
    assert seen == [("pause", "x")] * calls


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


# -- degradations: db-slow, db-lossy ---------------------------------------------------
@pytest.mark.parametrize("env, message", [
    ({"FAULT": "db-slower"}, "unknown FAULT 'db-slower'; valid FAULTs: db-restart, db-pause, pgbouncer-kill, "
                             "db-network-cut, db-slow, db-lossy"),
    ({"FAULT": "db-slow", "FAULT_DB_CPUS": "0"}, "FAULT_DB_CPUS='0' must be a number from 0.01 to 64"),
    ({"FAULT": "db-slow", "FAULT_DB_CPUS": "-1"}, "FAULT_DB_CPUS='-1' must be a number from 0.01 to 64"),
    ({"FAULT": "db-slow", "FAULT_DB_CPUS": "half"}, "FAULT_DB_CPUS='half' must be a number"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "0"}, "FAULT_LOSS_PCT='0' must be a number from 0.01 to 99.99"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "100"}, "FAULT_LOSS_PCT='100' must be a number from 0.01 to 99.99"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "10%"}, "FAULT_LOSS_PCT='10%' must be a number"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "lots"}, "FAULT_LOSS_PCT='lots' must be a number"),
    ({"FAULT": "db-slow", "FAULT_DELAY_MS": "0"}, "FAULT_DELAY_MS='0' must be a whole number from 1 to 10000"),
    ({"FAULT": "db-pause", "FAULT_DB_CPUS": "0.1"}, "FAULT_DB_CPUS='0.1' goes with FAULT=db-slow, not "
                                                    "FAULT=db-pause"),
    ({"FAULT": "db-slow", "FAULT_LOSS_PCT": "5"}, "FAULT_LOSS_PCT='5' goes with FAULT=db-lossy, not FAULT=db-slow"),
    ({"FAULT": "db-lossy", "FAULT_DELAY_MS": "50"}, "FAULT_DELAY_MS='50' goes with FAULT=db-slow"),
    ({"FAULT_LOSS_PCT": "5"}, "FAULT_LOSS_PCT='5' needs FAULT=<kind>"),
])
def test_a_bad_degradation_is_one_line_exit_2_and_starts_nothing(cli, started, env, message):
    out = cli("load", **env)
    assert out.code == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert started == []


def test_more_cpus_than_the_machine_has_is_one_line_exit_2(cli, started, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    out = cli("load", FAULT="db-slow", FAULT_DB_CPUS="3")
    assert out.code == 2 and len(out.stderr.splitlines()) == 1 and started == [], out.stderr
    assert "FAULT_DB_CPUS='3' must be a number above 0 and at most this machine's 2 CPUs" in out.stderr


def test_degradations_take_their_defaults_and_their_own_values(monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert faults.plan("db-slow", "3", "4", "5") == faults.Plan("db-slow", 3, 4, 5, db_cpus=0.05)
    assert faults.plan("db-slow", db_cpus="2").db_cpus == 2.0
    with pytest.raises(LabError, match=r"FAULT_DB_CPUS='2.01' must be a number above 0 and at most this "
                                       r"machine's 2 CPUs"):
        faults.plan("db-slow", db_cpus="2.01")
    assert faults.plan("db-lossy") == faults.Plan("db-lossy", 10, 10, 15, loss_pct=10.0)
    assert faults.plan("db-lossy", loss_pct="99.99").loss_pct == 99.99
    assert faults.describe(faults.Plan("db-slow", 1, 1, 3, db_cpus=0.05)) == "0.05 CPU"
    lossy = faults.Plan("db-lossy", 1, 1, 3, loss_pct=30)
    with pytest.raises(LabError, match="FAULT=db-lossy drops TCP packets, and 'pgbouncer-local' reaches its DB"):
        faults.check_fits(lossy, "pgbouncer-local", {"DB_HOST": "/run/pgbouncer"}, ["app", "db", "pgbouncer"])
    faults.check_fits(lossy, "direct", {"DB_HOST": "db"}, ["app", "db"])


def test_the_timer_records_the_degradations_setting():
    fake = FakeInjector()
    with faults.FaultTimer(faults.Plan("db-slow", 0.05, 0.05, 3, db_cpus=0.05), fake) as t:
        time.sleep(0.3)
    assert t.record.db_cpus == 0.05 and t.record.loss_pct is None and t.record.delay_ms is None


def test_before_and_during_compare_as_many_seconds_before_the_fault_as_it_lasted(tmp_path):
    """The load's first (warm-up) seconds stay out of 'before' when the fault began later."""
    seconds = {s: (50, 0, 40.0) for s in range(0, 14)}
    seconds.update({0: (5, 0, 3000.0), 1: (5, 0, 3000.0)})            # warm-up, long before the fault
    seconds.update({s: (50, 0, 900.0) for s in range(6, 10)})         # the fault: 6.0-9.5 s
    write_csv(tmp_path, seconds)
    samples = [{"ts": T0 + s + 0.5, "source": "postgres", "client_backends": n}
               for s, n in [(1, 300), (3, 110), (5, 120), (7, 610), (9, 580), (12, 130)]]
    samples += [{"ts": T0 + s + 0.1, "source": "netns", "targets": {"db:5432": {"established": n}}}
                for s, n in [(1, 60), (4, 44), (5, 52), (6, 60), (9, 59), (11, 50)]]
    (tmp_path / run_record.EVIDENCE).write_text("".join(json.dumps(r) + "\n" for r in samples))
    fault = run_record.Fault(kind="db-slow", planned_at_s=6, planned_for_s=4, target="db", db_cpus=0.05,
                             load_started=iso(T0), started=iso(T0 + 6.0), ended=iso(T0 + 9.5))
    r = faults.recovery(tmp_path, fault, [])
    assert (r.p95_ms_before, r.p95_ms_during) == (40.0, 900.0)
    assert (r.peak_db_before, r.peak_db_during) == (120, 610)
    assert (r.app_db_before, r.app_db_during) == (52, 60)
    assert faults.p95([]) is None and faults.p95([float(n) for n in range(1, 101)]) == 95.05  # k6's own percentile


def test_the_verdict_names_the_degradation_and_what_it_did():
    fault = run_record.Fault(kind="db-slow", planned_at_s=12, planned_for_s=8, target="db", db_cpus=0.05,
                             load_started=iso(T0), started=iso(T0 + 12), ended=iso(T0 + 20))
    fault.recovery = run_record.Recovery(recovered=True, last_seconds=3, last_seconds_requests=900,
                                         p95_ms_before=40.4, p95_ms_during=900.0, peak_db_before=120,
                                         peak_db_during=610)
    f = facts([], 0, fault, CONN_MAX_AGE="0", WORKER_CLASS="eventlet")
    f.variant = "direct"
    v = diagnosis.diagnose(f)
    assert v.case == diagnosis.FAULT
    assert v.headline.startswith("fault db-slow (Postgres slowed to 0.05 CPU) at 12.0 s for 8.0 s (planned 12 s "
                                 "for 8 s), p95 40 -> 900 ms, DB connections 120 -> 610 under direct: 0 of 5,000 "
                                 "requests failed"), v.headline
    lossy = run_record.Fault(kind="db-lossy", planned_at_s=5, planned_for_s=5, loss_pct=30,
                             load_started=iso(T0), started=iso(T0 + 5), ended=iso(T0 + 10))
    lossy.recovery = run_record.Recovery(p95_ms_before=40.0, p95_ms_during=210.0, peak_db_before=20,
                                         peak_db_during=5, app_db_before=44, app_db_during=60)
    v = diagnosis.diagnose(facts([], 0, lossy))
    assert "(30% of the app's packets toward the DB dropped) at 5.0 s" in v.headline
    assert "p95 40 -> 210 ms, DB connections 44 -> 60 under gthread:" in v.headline  # the app's side first
    unmeasured = dataclasses_asdict(run_record.Fault(kind="db-lossy", loss_pct=5))
    assert diagnosis.degradation(unmeasured, "direct") == ""


def dataclasses_asdict(value):
    from dataclasses import asdict

    return asdict(value)


def test_a_csv_cut_short_by_ctrl_c_is_read_up_to_where_it_stops(tmp_path):
    write_csv(tmp_path, {s: (100, 0, 5.0) for s in range(0, 6)})
    data = (tmp_path / timeline.K6_CSV).read_bytes()
    (tmp_path / timeline.K6_CSV).write_bytes(data[: len(data) - 20])  # no end-of-stream marker
    reqs, failed = timeline.k6_seconds(tmp_path)
    assert 0 < sum(reqs.values()) <= 600 and sum(failed.values()) == 0


def test_the_timeline_draws_a_degradation_with_its_setting_and_each_seconds_p95(tmp_path):
    write_csv(tmp_path, {s: (10, 0, 900.0 if 3 <= s < 6 else 40.0) for s in range(0, 10)})
    fault = run_record.Fault(kind="db-slow", db_cpus=0.05, load_started=iso(T0), started=iso(T0 + 3.0),
                             ended=iso(T0 + 6.0))
    run_record.write(tmp_path, run_record.RunRecord(run_id="r1", fault=fault))
    tl = timeline.load(tmp_path)
    assert tl.fault == (3.0, 6.0) and (tl.fault_kind, tl.fault_setting) == ("db-slow", "0.05 CPU")
    assert tl.p95_ms == {s: 900.0 if 3 <= s < 6 else 40.0 for s in range(0, 10)}
    from churnlab.reports import html

    fig = html.figure(tmp_path, "t")
    assert fig.data[-1].y == tuple(tl.p95_ms[s] for s in sorted(tl.p95_ms))
    assert any(a.text == "fault: db-slow 0.05 CPU" for a in fig.layout.annotations)
