"""Faults mid-load on the lab hosts (churnlab.hosts.faults), without hosts: where each kind acts,
what the front door passes to load.yml, the refusals (one line, exit 2, nothing started), the
undo after Ctrl-C, and the record hostrun builds from what load.yml fetched. The boundaries
faked: the inventory listing, the app host's local fact (read over SSH) and ansible-playbook."""
from __future__ import annotations

import json

import pytest

from churnlab import diagnosis, faults
from churnlab.core import run_record
from churnlab.core.errors import LabError
from churnlab.hosts import faults as hostfault
from churnlab.hosts import guard as hosts_guard
from churnlab.hosts import inventory as hosts
from churnlab.hosts import run as hostrun
from tests.unit.test_faults import T0, write_csv
from tests.unit.test_hostrun import fetched

DB, PGB, APP = "192.168.240.11", "192.168.240.12", "192.168.240.13"
LAB = [hosts_guard.Host("app1", APP, ("app",), {"churnlab_variant": "direct", "sysctl_profile": "repro"}),
       hosts_guard.Host("db1", DB, ("db",), {}),
       hosts_guard.Host("pgbouncer1", PGB, ("pgbouncer",), {})]


def fact(variant: str, db_host: str = DB, port: str = "5432") -> dict:
    return {"variant": variant, "service": "churnlab-app", "port": 8000,
            "settings": {"WORKER_CLASS": "gthread", "CONN_MAX_AGE": "600", "DB_HOST": db_host, "DB_PORT": port}}


@pytest.fixture()
def fake(monkeypatch, cli):
    """The hosts (all in the lab), the app host's fact, and every playbook run: (name, extra vars)."""
    state = {"fact": fact("gthread"), "runs": [], "interrupt": False}
    monkeypatch.setattr(hosts_guard, "resolve_hosts", lambda copy, extra, label="": LAB)
    monkeypatch.setattr(hosts_guard, "running_lab_hosts", lambda: {h.address: h.name for h in LAB})
    monkeypatch.setattr(hostfault, "read_app_fact", lambda address: state["fact"] if address == APP else {})

    def playbook(t, name, extra_vars):
        state["runs"].append((name, extra_vars))
        if state["interrupt"] and name == "load.yml":
            raise state["interrupt"]

    monkeypatch.setattr(hosts, "_playbook", playbook)
    state["cli"] = cli
    return state


@pytest.mark.parametrize("kind, variant, placed", [
    ("db-restart", "gthread", {"group": "db", "what": "postgresql"}),
    ("db-pause", "direct", {"group": "db", "what": "postgresql"}),
    ("db-network-cut", "gthread", {"group": "app", "what": DB}),
    ("pgbouncer-kill", "pgbouncer", {"group": "pgbouncer", "what": "pgbouncer"}),
    ("pgbouncer-kill", "pgbouncer-local", {"group": "app", "what": "pgbouncer"}),
    ("db-slow", "direct", {"group": "db", "what": "postgresql"}),
    ("db-lossy", "gthread", {"group": "app", "what": DB}),
])
def test_each_kind_acts_on_its_host(kind, variant, placed):
    db_host = PGB if variant == "pgbouncer" else DB
    assert hostfault.where(faults.Plan(kind, 5, 5, 8), fact(variant, db_host)) == placed


def test_what_load_yml_gets(fake):
    out = fake["cli"]("hosts", "load", FAULT="db-restart", FAULT_AT="4s", FAULT_FOR="5", FAULT_TAIL="8", VUS="20")
    assert out.code == 0, out.stderr
    ((name, extra),) = fake["runs"]
    assert name == "load.yml"
    # Without ITERATIONS the run is time-boxed by the fault's window (faults.FAULT_ITERATIONS, k6's maxDuration).
    assert extra["load_iterations"] == faults.FAULT_ITERATIONS and extra["load_vus"] == 20
    assert extra["load_fault"] == {"kind": "db-restart", "at": 4, "for": 5, "tail": 8, "load_seconds": 17,
                                   "setting": "", "delay_ms": "", "toward": "",
                                   "group": "db", "what": "postgresql", "settle_seconds": faults.SETTLE_SECONDS,
                                   "lab_addresses": sorted([APP, DB, PGB])}
    assert "FAULT=db-restart at 4 s for 5 s, then 8 s" in out.stderr


@pytest.mark.parametrize("env, setting, group", [
    ({"FAULT": "db-slow", "FAULT_DB_CPUS": "0.1"}, "0.1", "db"),
    ({"FAULT": "db-slow"}, "0.05", "db"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "12.5"}, "12.5", "app"),
])
def test_a_degradation_passes_its_setting_to_load_yml(fake, env, setting, group):
    out = fake["cli"]("hosts", "load", VUS="20", **env)
    assert out.code == 0, out.stderr
    ((_, extra),) = fake["runs"]
    assert extra["load_fault"]["setting"] == setting and extra["load_fault"]["group"] == group
    assert f"FAULT={env['FAULT']} ({setting}" in out.stderr  # the setting, said before the play starts


def test_without_fault_load_yml_gets_no_fault(fake):
    assert fake["cli"]("hosts", "load", VUS="20", ITERATIONS="100").code == 0
    ((_, extra),) = fake["runs"]
    assert "load_fault" not in extra and extra["load_iterations"] == 100


@pytest.mark.parametrize("env, variant, db_host, message", [
    ({"FAULT": "pgbouncer-kill"}, "gthread", DB, "FAULT=pgbouncer-kill needs a PgBouncer variant"),
    ({"FAULT": "db-network-cut"}, "pgbouncer-local", "/run/pgbouncer", "FAULT=db-network-cut cuts a TCP route"),
    ({"FAULT": "db-network-cut"}, "gthread", "10.30.7.7", "needs the app's DB host as an address in the lab network"),
    ({"FAULT": "db-pause", "FAULT_TAIL": "2"}, "gthread", DB, "FAULT_TAIL='2' must be a whole number from 5 to 600"),
    ({"FAULT": "db-lossy"}, "pgbouncer-local", "/run/pgbouncer", "FAULT=db-lossy drops TCP packets"),
    ({"FAULT": "db-lossy"}, "gthread", "10.30.7.7", "FAULT=db-lossy needs the app's DB host as an address in the lab"),
    ({"FAULT": "db-lossy", "FAULT_LOSS_PCT": "0"}, "gthread", DB, "FAULT_LOSS_PCT='0' must be a number"),
])
def test_a_fault_that_does_not_fit_is_one_line_exit_2_nothing_started(fake, env, variant, db_host, message):
    fake["fact"] = fact(variant, db_host)
    out = fake["cli"]("hosts", "load", **env)
    assert out.code == 2 and len(out.stderr.splitlines()) == 1 and message in out.stderr, out.stderr
    assert fake["runs"] == []


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), hosts.AnsibleFailed("load.yml", 4)])
def test_ctrl_c_or_a_failed_load_runs_the_undo_play_with_the_same_fault(fake, stop):
    """Ctrl-C, or load.yml failing (an unreachable generator skips its always section): fault-undo.yml."""
    fake["interrupt"] = stop
    out = fake["cli"]("hosts", "load", FAULT="db-network-cut", FAULT_AT="3", FAULT_FOR="3", FAULT_TAIL="5")
    assert out.code != 0
    (load, load_vars), (undo, undo_vars) = fake["runs"]
    assert (load, undo) == ("load.yml", hostfault.UNDO_PLAYBOOK)
    assert undo_vars == {"load_fault": load_vars["load_fault"]}
    assert undo_vars["load_fault"]["what"] == DB and undo_vars["load_fault"]["group"] == "app"


def test_a_missing_app_fact_refuses_with_one_line(monkeypatch, fake):
    def unreadable(address):
        raise LabError(f"FAULT needs a provisioned app host: {hostfault.APP_FACT} could not be read on {address}")

    monkeypatch.setattr(hostfault, "read_app_fact", unreadable)
    out = fake["cli"]("hosts", "load", FAULT="db-restart")
    assert out.code == 2 and "needs a provisioned app host" in out.stderr and fake["runs"] == []


# -- the record hostrun writes ----------------------------------------------------------
def test_hostrun_records_the_fault_like_the_compose_lab(tmp_path):
    plan = {"kind": "db-restart", "at": 3, "for": 3, "tail": 6, "load_seconds": 12, "group": "db",
            "what": "postgresql", "settle_seconds": 30, "lab_addresses": [APP, DB]}
    fetch = fetched(tmp_path, fault=plan, fault_host="db1", start_at=str(T0 - 1), fault_left_broken=[],
                    app_fact=fact("gthread"), profile="default", k6_rc="0")
    # k6's per-request CSV: failures while the DB was down (seconds 3-5), all 200 in the last seconds.
    seconds = {s: (50, 0, 5.0) for s in range(0, 12)}
    seconds.update({3: (10, 40, 5.0), 4: (0, 50, 5.0), 5: (20, 30, 5.0), 6: (45, 5, 5.0)})
    write_csv(fetch, seconds)
    (fetch / "k6-summary.json").write_text(json.dumps({"metrics": {
        "http_reqs{scenario:ab}": {"values": {"count": 600, "rate": 50.0}},
        "http_req_failed{scenario:ab}": {"values": {"rate": 0.2}},
        "http_req_duration{scenario:ab}": {"values": {"med": 5, "p(95)": 5, "p(99)": 5, "max": 5}},
        "http_reqs{scenario:ab,status:200}": {"values": {"count": 475}},
        "http_reqs{scenario:ab,status:499}": {"values": {"count": 125}}},
        "lab": {"scenario": "ab", "vus": 20, "tracked_status": ["200", "499"]}}))
    (fetch / "fault.txt").write_text(f"started {T0 + 3.2:.6f}\nended {T0 + 5.9:.6f}\n")
    record, run_dir = hostrun.finish(fetch)
    assert run_dir.name.endswith("-gthread-default-ab-c500-db-restart")
    run = run_record.read(run_dir)
    f = run.fault
    assert (f.kind, f.planned_at_s, f.planned_for_s, f.target) == ("db-restart", 3.0, 3.0, "db1: postgresql")
    assert diagnosis.faults._seconds_between(f.load_started, f.started) == pytest.approx(4.2)
    assert diagnosis.faults._seconds_between(f.started, f.ended) == pytest.approx(2.7)
    assert f.errors == [] and f.recovery.recovered is True
    assert (f.recovery.failed_during, f.recovery.failed_after) == (120, 5)
    assert run.verdict["case"] == diagnosis.FAULT and run.verdict["headline"].startswith("fault db-restart ")


def test_hostrun_records_what_was_left_broken_and_the_timer_errors(tmp_path):
    plan = {"kind": "db-pause", "at": 3, "for": 3, "tail": 6, "group": "db", "what": "postgresql"}
    fetch = fetched(tmp_path, fault=plan, fault_host="db1", start_at=str(T0 - 1), k6_rc="0",
                    fault_left_broken=["db1: postgresql@15-main.service has processes stopped (state T): 41,42"])
    write_csv(fetch, {s: (50, 0, 5.0) for s in range(0, 12)})
    (fetch / "fault.txt").write_text(f"started {T0 + 3:.3f}\nerror undoing db-pause failed: no such unit\n"
                                     f"ended {T0 + 6:.3f}\n")
    fault = hostfault.record(fetch, json.loads((fetch / "host-facts.json").read_text()))
    assert fault.errors == ["undoing db-pause failed: no such unit"]
    assert fault.recovery.recovered is False and "state T" in fault.recovery.left_broken[0]


def test_no_timer_record_is_a_fault_that_never_took_effect(tmp_path):
    fetch = fetched(tmp_path, fault={"kind": "db-restart", "at": 3, "for": 3}, start_at=str(T0), k6_rc="0")
    fault = hostfault.record(fetch, json.loads((fetch / "host-facts.json").read_text()))
    assert fault.started is None and fault.errors == ["the fault's timer left no record (fault.txt was not fetched)"]
    assert hostfault.record(fetch, {"fault": None}) is None


@pytest.mark.parametrize("plan, target, setting", [
    ({"kind": "db-slow", "at": 3, "for": 3, "group": "db", "what": "postgresql", "setting": "0.05"},
     "db1: postgresql", {"db_cpus": 0.05, "loss_pct": None}),
    ({"kind": "db-lossy", "at": 3, "for": 3, "group": "app", "what": DB, "setting": "30"},
     f"app1 -> {DB}", {"db_cpus": None, "loss_pct": 30.0}),
])
def test_a_degradation_on_the_hosts_is_recorded_with_its_setting(tmp_path, plan, target, setting):
    host = target.split(":")[0].split(" ")[0]
    fetch = fetched(tmp_path, fault=plan, fault_host=host, start_at=str(T0), k6_rc="0", fault_left_broken=[])
    write_csv(fetch, {s: (50, 0, 40.0 if s < 3 else 900.0 if s < 7 else 40.0) for s in range(0, 12)})
    (fetch / "fault.txt").write_text(f"started {T0 + 3:.3f}\nended {T0 + 6.5:.3f}\n")
    fault = hostfault.record(fetch, json.loads((fetch / "host-facts.json").read_text()))
    assert fault.target == target and {"db_cpus": fault.db_cpus, "loss_pct": fault.loss_pct} == setting
    assert (fault.recovery.p95_ms_before, fault.recovery.p95_ms_during) == (40.0, 900.0)


@pytest.mark.parametrize("answer, code", [
    (None, 0),
    ("the kernel has no netem qdisc (tc qdisc add ... netem: Specified qdisc kind is unknown)", 2),
    ("the route toward 192.168.240.13 is loopback (the app and the DB on one host)", 2),
])
def test_a_network_delay_asks_the_db_hosts_own_kernel_first(monkeypatch, fake, answer, code):
    """FAULT_DELAY_MS on the hosts: the db host is asked (the fault script's can-delay, over SSH) before
    anything starts; its one line refuses, exit 2, no play; where it can, load.yml gets the delay and toward."""
    asked = []
    monkeypatch.setattr(hostfault, "cannot_delay", lambda address, toward: asked.append((address, toward)) or answer)
    out = fake["cli"]("hosts", "load", FAULT="db-slow", FAULT_DELAY_MS="50", VUS="20")
    assert asked == [(DB, APP)] and out.code == code, out.stderr
    if answer:
        assert out.stderr.strip() == (f"error: FAULT_DELAY_MS=50 cannot delay db1's packets: {answer}; "
                                      f"FAULT=db-slow without it slows the DB by CPU alone")
        assert fake["runs"] == []
    else:
        ((_, extra),) = fake["runs"]
        assert (extra["load_fault"]["delay_ms"], extra["load_fault"]["toward"]) == (50, APP)
        assert extra["load_fault"]["group"] == "db"


def test_a_network_delay_on_the_hosts_is_recorded(tmp_path):
    plan = {"kind": "db-slow", "at": 3, "for": 3, "group": "db", "what": "postgresql", "setting": "0.05",
            "delay_ms": 50, "toward": APP}
    fetch = fetched(tmp_path, fault=plan, fault_host="db1", start_at=str(T0), k6_rc="0", fault_left_broken=[])
    write_csv(fetch, {s: (50, 0, 40.0) for s in range(0, 12)})
    (fetch / "fault.txt").write_text(f"started {T0 + 3:.3f}\nended {T0 + 6.5:.3f}\n")
    fault = hostfault.record(fetch, json.loads((fetch / "host-facts.json").read_text()))
    assert (fault.db_cpus, fault.delay_ms) == (0.05, 50)
    setting = run_record.degradation_setting(fault.kind, fault.db_cpus, fault.loss_pct, fault.delay_ms)
    assert setting == "0.05 CPU, +50 ms"
