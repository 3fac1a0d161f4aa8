"""Training mode's own logic: the state machine, answers, checks' conditions,
scoring, fix.yml, and hiding. The lab is faked at our own boundary
(session.Lab): applying settings and running the fixed load."""
from __future__ import annotations

import json
import os
import re

import pytest

from churnlab import diagnosis
from churnlab.core import paths, run_record
from churnlab.core.errors import LabError
from churnlab.evidence import k6_merge
from churnlab.training import commands, exercises, labport, session, workspace
from churnlab.training.session import Figures

FAILING = Figures(run_id="r1", requests=2000, rps=400.0, status_counts={"200": 900, "499": 1100},
                  app_errors=[{"kind": "EADDRNOTAVAIL: Cannot assign requested address", "target": "db:5432",
                               "count": 1100}], peak_db_connections=35)
PASSING = Figures(run_id="r2", requests=2000, rps=500.0, status_counts={"200": 2000}, app_errors=[],
                  peak_db_connections=100)


class FakeLab:
    """session.Lab without Docker: records what was applied, answers loads with canned figures."""

    def __init__(self, *figures: Figures, ceiling: float = 1000.0):
        self.figures = list(figures)
        self.ceiling = ceiling
        self.applied: list = []
        self.loads: list = []
        self.downs = 0

    def apply(self, exercise, fix):
        self.applied.append(fix)

    def load(self, exercise, label, endpoint="/api/v1/healthz/"):
        self.loads.append((label, endpoint))
        if endpoint == "/api/v1/ping/":
            return Figures("ceiling", exercise.iterations, self.ceiling, {"200": exercise.iterations}, [], 1)
        return self.figures.pop(0)

    def down(self):
        self.downs += 1


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    """.lab/, results/ and the workspace in a temporary folder."""
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / ".lab")
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(workspace, "WORKSPACE_DIR", tmp_path / "workspace")
    monkeypatch.setattr(workspace, "FIX_FILE", tmp_path / "workspace" / "fix.yml")
    return tmp_path


def _edit_fix(**sections):
    fix = workspace.read()
    workspace.write(fix.with_changes(sections), "test")


# -- the exercises file ---------------------------------------------------------
def test_at_least_six_exercises_and_the_causes_are_the_diagnosis_cases():
    names = exercises.names()
    assert len(names) >= 8 and {"incident", "keepalive-trap", "pgbouncer-moved", "max-connections",
                                "no-kernel-changes", "mystery", "pool-starvation", "loadgen-ports"} <= set(names)
    assert {"greenlet-churn", "loadgen-limited", "pool-timeout"} <= set(exercises.CAUSES)
    assert set(exercises.CAUSES) <= {v for k, v in vars(diagnosis).items() if k.isupper() and isinstance(v, str)}
    for name in names:
        ex = exercises.get(name, 1)
        assert ex.cause in exercises.CAUSES and ex.hints and ex.vus <= ex.iterations


def test_every_reference_solution_changes_the_scenario_and_nothing_forbidden():
    for name in exercises.names():
        ex = exercises.get(name, 3)
        start = ex.scenario.start_fix()
        fixed = start.with_changes(ex.solution)
        assert fixed != start, name
        assert workspace.forbidden_changes(start, fixed, ex.forbidden) == [], name
        assert fixed.misfits(ex.scenario.base_preset()) == [], name


def test_the_mystery_draw_follows_the_seed():
    a, b = exercises.get("mystery", 42), exercises.get("mystery", 42)
    assert a == b and a.seed == 42
    causes = {exercises.get("mystery", seed).cause for seed in range(40)}
    surfaces = {(exercises.get("mystery", seed).vus, exercises.get("mystery", seed).scenario.knobs["WORKERS"])
                for seed in range(40)}
    assert len(causes) >= 3 and len(surfaces) >= 4


def test_a_bad_exercises_file_is_one_line_naming_the_exercise(tmp_path):
    path = tmp_path / "exercises.yml"
    good = exercises.EXERCISES_FILE.read_text()
    path.write_text(good.replace("cause: max-connections", "cause: out-of-coffee"))
    with pytest.raises(LabError, match=r"exercise 'max-connections': cause 'out-of-coffee' is not a case"):
        exercises.catalogue(path)
    path.write_text(good.replace("{variant: persistent, profile: repro}", "{variant: persistent, profile: warp}"))
    with pytest.raises(LabError, match=r"'keepalive-trap': scenario: unknown profile 'warp'"):
        exercises.catalogue(path)


# -- fix.yml ------------------------------------------------------------------
@pytest.mark.parametrize("change,message", [
    ({"gunicorn": {"worker_class": "tornado"}}, "gunicorn.worker_class: 'tornado' is not one of"),
    ({"gunicorn": {"workers": 0}}, "gunicorn.workers: WORKERS='0'"),
    ({"gunicorn": {"threads": "many"}}, "gunicorn.threads: THREADS='many'"),
    ({"django": {"conn_max_age": -1}}, "django.conn_max_age: CONN_MAX_AGE='-1'"),
    ({"pgbouncer": "maybe"}, "pgbouncer: 'maybe' is not one of"),
    ({"sysctls": {"net.ipv4.ip_local_port_range": "60000 1024"}}, "must be two ports"),
    ({"sysctls": {"net.ipv4.tcp_tw_reuse": "3"}}, "must be 0, 1 or 2"),
    ({"sysctls": {"vm.swappiness": "1"}}, "sysctls.vm.swappiness: not a sysctl the lab sets"),
    ({"django": {"pool": {"min_size": 1, "max_size": 4}}}, "django.pool: none, or exactly min_size, max_size"),
    ({"django": {"pool": {"min_size": 1, "max_size": 0, "timeout": 1}}}, "django.pool.max_size: POOL_MAX_SIZE='0'"),
    ({"django": {"pool": {"min_size": 1, "max_size": 4, "timeout": 0}}}, "django.pool.timeout: POOL_TIMEOUT='0'"),
    ({"django": {"pool": {"min_size": 8, "max_size": 4, "timeout": 1}}}, "django.pool.min_size: 8 is above max_size 4"),
    ({"loadgen": {"generators": 9}}, "loadgen.generators: LOADGENS='9'"),
    ({"loadgen": {"port_range": "1024"}}, "loadgen.port_range: LOADGEN_PORT_RANGE='1024' must be two ports"),
])
def test_a_bad_value_in_fix_yml_is_one_line_naming_the_field(change, message):
    start = workspace.FixSettings.of_selection(exercises.get("incident").scenario.selection())
    data = start.sections()
    for section, value in change.items():
        data[section] = {**data[section], **value} if isinstance(value, dict) else value
    with pytest.raises(LabError, match=re.escape(message)) as info:
        workspace.parse(data)
    assert "\n" not in str(info.value) and str(info.value).startswith(workspace.shown())


def test_the_pool_and_the_generator_reach_the_lab_through_the_presets():
    ex = exercises.get("pool-starvation")
    start = ex.scenario.start_fix()
    assert start.pool == {"min_size": 1, "max_size": 1, "timeout": 0.1} and start.conn_max_age == 0
    fixed = start.with_changes({"django": {"pool": {"max_size": 40}}})
    assert fixed.pool == {"min_size": 1, "max_size": 40, "timeout": 0.1}
    entry = fixed.preset(ex.scenario.base_preset())
    assert (entry["db_pool"], entry["pool_min_size"], entry["pool_max_size"], entry["pool_timeout"]) == \
        ("native", 1, 40, 0.1) and entry["app_lock"] == "requirements-today.txt"
    assert "db_pool" not in fixed.with_changes({"django": {"pool": "none"}}).preset(ex.scenario.base_preset())
    assert fixed.misfits(ex.scenario.base_preset()) == []
    assert fixed.with_changes({"django": {"conn_max_age": 600}}).misfits(ex.scenario.base_preset()) == [
        "django.conn_max_age: 600 with a pool: the pool keeps the connections, Django refuses persistent "
        "connections with it (set 0)"]
    incident = exercises.get("incident").scenario
    pooled = incident.start_fix().with_changes({"django": {"pool": {"min_size": 1, "max_size": 4, "timeout": 1}}})
    assert pooled.misfits(incident.base_preset())[0].startswith("django.pool: this app host runs Django 4.1")
    gevent = incident.start_fix().with_changes({"gunicorn": {"worker_class": "gevent"}})
    assert gevent.misfits(incident.base_preset()) == [
        "gunicorn.worker_class: 'gevent' is not installed on this app host (installed: eventlet, gthread, sync)"]
    gen = exercises.get("loadgen-ports").scenario.start_fix()
    assert (gen.loadgens, gen.loadgen_port_range) == (1, "60000 60049")
    assert (incident.start_fix().loadgens, incident.start_fix().loadgen_port_range) == (1, "1024 65535")


def test_a_fix_the_host_cannot_run_is_refused_before_the_lab_is_touched(cli, fake_lab):
    assert cli("exercise", "start", EX="incident").code == 0
    _edit_fix(django={"pool": {"min_size": 1, "max_size": 4, "timeout": 1}})
    out = cli("exercise", "check")
    lines = out.stderr.strip().splitlines()
    assert out.code == 2 and len(lines) == 1 and "django.pool: this app host runs Django 4.1" in lines[0]
    assert len(fake_lab.applied) == 1 and fake_lab.loads == []


def test_fix_yml_round_trips_and_broken_yaml_is_one_line():
    start = workspace.FixSettings.of_selection(exercises.get("pgbouncer-moved").scenario.selection())
    workspace.write(start, "pgbouncer-moved", ("sysctls",))
    text = workspace.FIX_FILE.read_text()
    assert "Not yours to change in this exercise: sysctls" in text and "pgbouncer: remote" in text
    assert "pool: none" in text and "max_size (1-1000)" in text and "port_range: 1024 65535" in text
    assert workspace.read() == start
    workspace.FIX_FILE.write_text("gunicorn: [unclosed\n")
    with pytest.raises(LabError, match="not valid YAML") as info:
        workspace.read()
    assert "\n" not in str(info.value)


# -- the state machine -----------------------------------------------------------
def test_a_whole_session_start_hints_answers_checks_stop(sandbox):
    lab = FakeLab(FAILING, PASSING)
    ex, state = session.start("incident", None, lab)
    assert lab.applied == [workspace.FixSettings.of_selection(ex.scenario.selection())] == [workspace.read()]
    with pytest.raises(LabError, match="exercise 'incident' is running"):
        session.start("keepalive-trap", None, lab)

    assert session.hint() == (1, ex.hints[0].cost, ex.hints[0].text)
    for _ in ex.hints[1:]:
        session.hint()
    assert session.hint() is None  # the ladder is used up; nothing more is charged

    assert session.answer("max-connections") is False
    assert session.answer("port-exhaustion-postgres") is True
    with pytest.raises(LabError, match="unknown CAUSE 'ports'; valid causes: port-exhaustion-postgres"):
        session.answer("ports")

    passed, conditions, _ = session.check(lab)  # before any fix: the scenario fails
    assert not passed and [c.name for c in conditions if not c.passed] == [session.ZERO_ERRORS]
    assert session.read_state().solved_at is None

    _edit_fix(gunicorn={"worker_class": "gthread", "workers": 4, "threads": 25}, django={"conn_max_age": 600})
    passed, conditions, _ = session.check(lab)
    assert passed and all(c.passed for c in conditions)
    assert lab.applied[-1].worker_class == "gthread"
    state = session.read_state()
    assert state.solved_at is not None and not state.solved_by_solution and len(state.checks) == 2

    record, path = session.stop(lab)
    assert lab.downs == 1 and path.parent == sandbox / "results" / "training"
    assert path.name.startswith("incident-") and json.loads(path.read_text()) == record
    hint_cost = sum(h.cost for h in ex.hints)
    assert record["points"] == ex.points - hint_cost - session.WRONG_ANSWER_COST
    assert (record["hints_used"], record["wrong_answers"], record["checks_tried"], record["solved"]) == \
        (len(ex.hints), 1, 2, True)
    assert record["time_to_fix_s"] is not None
    with pytest.raises(LabError, match="no exercise is running"):
        session.hint()


def test_a_forbidden_change_fails_the_check_without_touching_the_lab():
    lab = FakeLab()
    session.start("no-kernel-changes", None, lab)
    _edit_fix(sysctls={"net.ipv4.ip_local_port_range": "1024 65535", "net.ipv4.tcp_tw_reuse": "1"})
    passed, conditions, figures = session.check(lab)
    assert not passed and figures is None and len(lab.applied) == 1 and lab.loads == []
    assert conditions[0].name == "no forbidden change"
    assert "sysctls: net.ipv4.ip_local_port_range 50000 50999 -> 1024 65535" in conditions[0].detail


def test_the_throughput_condition_measures_the_ceiling_only_when_the_rest_holds():
    lab = FakeLab(FAILING, PASSING, ceiling=1000.0)
    ex, _ = session.start("no-kernel-changes", None, lab)
    session.check(lab)
    assert lab.loads == [("check1", "/api/v1/healthz/")]
    passed, conditions, figures = session.check(lab)
    assert lab.loads[-1] == ("check2-ceiling", "/api/v1/ping/") and figures.ceiling_rps == 1000.0
    share = [c for c in conditions if c.name.startswith("throughput")][0]
    assert passed and share.passed and "50% of /api/v1/ping/'s 1,000 req/s" in share.detail
    low = session.evaluate(ex, Figures("r", 2000, 100.0, {"200": 2000}, [], 10, ceiling_rps=1000.0))
    assert [c.passed for c in low] == [True, True, True, False]


def test_conditions_name_the_number_that_failed():
    ex = exercises.get("pgbouncer-moved")
    found = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 2000}, [], 100))
    assert [(c.passed, c.detail) for c in found] == [
        (True, "the load generator itself failed 0 of 2,000 requests and dropped 0 iterations"),
        (True, "0 of 2,000 requests answered 499 (a DB error); the app logged 0 DB errors"),
        (False, "Postgres client backends peaked at 100")]
    per = [{"name": "1", "requests": 1000, "errors": 900, "dropped_iterations": 0,
            "k6_errors": {k6_merge.LOADGEN_EADDRNOTAVAIL: 900}}]
    limits = diagnosis.loadgen_reasons(diagnosis.loadgen_facts(diagnosis.Facts(requests=1000),
                                                               run_record.Load(per_loadgen=per)))
    generator = session.evaluate(ex, Figures("r", 1000, 900.0, {"200": 100, "0": 900}, [], 20,
                                             loadgen_failures=900, loadgen_limits=limits))
    assert [c.passed for c in generator] == [False, False, True]
    assert generator[0].detail.startswith("k6 itself failed 900 of 1,000 requests with 'cannot assign requested")
    found = session.evaluate(ex, FAILING)[1:]
    assert "1,100 of 2,000 requests answered 499 (a DB error); the app logged 1,100 DB errors (1,100 x EADDRNOTAVAIL" \
        in found[0].detail
    unmeasured = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 2000}, [], None))
    assert not unmeasured[2].passed and "not measured" in unmeasured[2].detail
    transport = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 1990, "0": 10}, [], 20))[1:]
    assert not transport[0].passed and "10 client transport failures (at most 2 allowed)" in transport[0].detail


def test_solve_is_scored_as_solved_by_solution():
    lab = FakeLab(Figures("r", 2000, 500.0, {"200": 2000}, [], 41))
    ex, _ = session.start("max-connections", None, lab)
    passed, _, _, why = session.solve(lab)
    assert passed and why == ex.why
    assert workspace.read() == ex.scenario.start_fix().with_changes(ex.solution)
    record, _ = session.stop(lab)
    assert record["solved_by_solution"] and record["points"] == 0 and record["solved"]


def test_scores_never_go_below_zero_and_unsolved_scores_nothing():
    lab = FakeLab(FAILING)
    ex, _ = session.start("incident", None, lab)
    for _ in range(30):
        session.answer("socket-backlog")
    state = session.read_state()
    assert session.score(state, ex, 0)["points"] == 0
    state.solved_at, state.solved_after_s = "now", 12.0
    assert session.score(state, ex, 0)["points"] == 0  # 30 wrong answers cost more than the points
    state.answers = []
    assert session.score(state, ex, 0)["points"] == ex.points - session.NEVER_NAMED_COST


# -- the command line (in-process, nothing started) ------------------------------
@pytest.fixture()
def fake_lab(monkeypatch):
    lab = FakeLab(FAILING, PASSING, PASSING)
    monkeypatch.setattr(commands, "_lab", lambda: lab)
    return lab



@pytest.mark.parametrize("name", exercises.names())
def test_no_output_of_a_session_names_the_hidden_scenario(cli, fake_lab, name):
    outputs = [cli("exercise", "list"), cli("exercise", "start", EX=name, SEED="5")]
    ex = exercises.get(name, 5)
    for _ in ex.hints:
        outputs.append(cli("exercise", "hint"))
    wrong = cli("exercise", "answer", CAUSE="socket-backlog")
    outputs += [wrong, cli("exercise", "check"), cli("exercise", "stop")]
    text = "\n".join(o.stdout + o.stderr for o in outputs)
    assert outputs[1].code == 0 and "make load VUS=" in text
    assert ex.leaks(text) == [], text
    assert wrong.code == 1 and "socket-backlog is not the mechanism this exercise asks for" in wrong.stderr
    assert ex.cause not in wrong.stderr


def test_the_cli_refuses_bad_input_with_one_line_and_exit_2(cli, fake_lab, started):
    for args, env, message in [
        (("exercise", "start"), {"EX": "nope"}, "unknown exercise 'nope'; valid exercises: incident"),
        (("exercise", "start"), {"EX": "mystery", "SEED": "-1"}, "SEED='-1' must be a whole number"),
        (("exercise", "check"), {}, "no exercise is running"),
        (("exercise", "stop"), {}, "no exercise is running"),
        (("exercise", "answer"), {"CAUSE": "port-exhaustion-postgres"}, "no exercise is running"),
    ]:
        out = cli(*args, **env)
        lines = out.stderr.strip().splitlines()
        assert out.code == 2 and len(lines) == 1 and message in lines[0], (args, out)
    assert fake_lab.applied == [] and started == []
    assert cli("exercise", "start", EX="incident", SEED="").code == 0
    out = cli("exercise", "answer", CAUSE="ports")
    assert out.code == 2 and "unknown CAUSE 'ports'" in out.stderr
    workspace.FIX_FILE.write_text(workspace.FIX_FILE.read_text().replace("workers: 6", "workers: lots"))
    out = cli("exercise", "check")
    assert out.code == 2 and "gunicorn.workers: WORKERS='lots'" in out.stderr and len(fake_lab.applied) == 1
    assert started == []


def test_during_an_exercise_diagnose_is_off_and_lab_up_takes_no_selection(cli, fake_lab, started):
    assert cli("exercise", "start", EX="incident").code == 0
    out = cli("diagnose")
    assert out.code == 2 and "make diagnose is off during exercise 'incident'" in out.stderr
    out = cli("diagnose", RUN="some-run")
    assert out.code == 2 and "is off during exercise" in out.stderr
    out = cli("up", VARIANT="gthread")
    assert out.code == 2 and "VARIANT cannot be chosen now" in out.stderr
    assert started == []


def test_an_exercise_that_allows_diagnose_lets_it_through(cli, fake_lab, started):
    assert cli("exercise", "start", EX="no-kernel-changes").code == 0
    out = cli("diagnose", RUN="no-such-run")  # past the exercise's guard, to the run's own check
    assert out.code == 2 and "no run 'no-such-run' under results/" in out.stderr
    assert "is off during exercise" not in out.stderr and started == []


# -- hiding: the state under .lab/training/ and the run folders ---------------------
@pytest.fixture()
def compose_lab(monkeypatch):
    """labport.ComposeLab with lab.up/down faked (our own boundary): it writes lab.json and the presets copy."""
    from churnlab.compose import lab

    ups: list = []
    monkeypatch.setattr(lab, "up", lambda selection, **kw: ups.append(selection))
    monkeypatch.setattr(lab, "down", lambda *a, **kw: None)
    monkeypatch.setattr(labport, "_is_up", lambda: False)
    yield labport.ComposeLab(), ups
    labport.deactivate()


@pytest.mark.parametrize("name", exercises.names())
def test_the_state_files_never_name_the_hidden_scenario(sandbox, compose_lab, name):
    lab, ups = compose_lab
    ex, _ = session.start(name, 4, lab)
    labport.activate()
    assert [(s.variant, s.profile, s.knobs) for s in ups] == [("exercise", "exercise-host", {})]
    folder = sandbox / ".lab" / "training"
    assert {p.name for p in folder.iterdir()} == {"state.json", "lab.json", "presets.yml"}
    for path in (folder / "state.json", folder / "lab.json"):
        assert ex.leaks(path.read_text()) == [], path.name
    import yaml
    copy = yaml.safe_load((folder / "presets.yml").read_text())
    # the copy is the lab's catalogue (config/presets.yml) plus the settings fix.yml shows
    shown = json.dumps([copy["variants"]["exercise"], copy["profiles"]["exercise-host"]])
    assert not [word for word in ex.hidden_words() if word in shown] and "rank" not in copy
    assert copy["variants"]["exercise"]["about"] == "the running exercise"
    env = {"PG_SIZING": "the caller's"}
    labport.stack_env(env)  # the stack's environment: the sizing derived again from the state
    assert env.get("PG_SIZING", "") == ex.scenario.pg_sizing
    assert labport.load_defaults()["LOADGEN_PORT_RANGE"] == ex.scenario.start_fix().loadgen_port_range
    assert "CHURNLAB_PRESETS" not in os.environ and "PG_SIZING" not in os.environ  # no side channel


def test_run_folders_get_their_verdict_only_when_the_exercise_stops(sandbox, compose_lab):
    from churnlab.core import run_record
    from churnlab.load.run import RunResult

    lab, _ = compose_lab
    session.start("incident", None, lab)
    run_dir = sandbox / "results" / "20261126T000000Z-exercise-incident-check1"
    run_dir.mkdir(parents=True)
    record = run_record.RunRecord(run_id=run_dir.name, summary={"requests": 100, "status_counts": {"200": 40,
                                                                                                  "499": 60}},
                                  app_errors=[{"kind": "EADDRNOTAVAIL: Cannot assign requested address",
                                               "target": "db:5432", "count": 60}],
                                  verdict={"case": "port-exhaustion-postgres", "headline": "x"})
    run_record.write(run_dir, record)
    labport.withhold_verdict(RunResult(run_id=run_dir.name, run_dir=run_dir, summary=None, record=record))
    text = (run_dir / "run.json").read_text()
    assert json.loads(text)["verdict"] is None and "port-exhaustion" not in text
    session.stop(lab)
    assert run_record.read(run_dir).verdict["case"] == "port-exhaustion-postgres"


def test_changes_round_trip_and_name_only_what_changed():
    start = exercises.get("no-kernel-changes").scenario.start_fix()
    fixed = start.with_changes({"gunicorn": {"worker_class": "gthread", "threads": 25},
                                "sysctls": {"net.ipv4.tcp_tw_reuse": "1", workspace.WHOLE: True}})
    assert fixed.sysctls == {"net.ipv4.tcp_tw_reuse": "1"}  # whole: the port range removed stays removed
    changes = fixed.changes(start)
    assert changes["gunicorn"] == {"worker_class": "gthread", "threads": 25} and "django" not in changes
    assert start.with_changes(changes) == fixed and start.changes(start) == {}


def test_the_keepalive_trap_asks_for_greenlet_churn_and_the_incident_does_not():
    lab = FakeLab()
    session.start("keepalive-trap", None, lab)
    assert session.answer("port-exhaustion-postgres") is False  # the symptom, not the mechanism asked for
    assert session.answer("greenlet-churn") is True
    session.stop(lab)
    session.start("incident", None, lab)
    assert session.answer("greenlet-churn") is False  # CONN_MAX_AGE=0: nothing is kept, per greenlet or not
    assert session.answer("port-exhaustion-postgres") is True
