"""Training mode's own logic: the state machine, answers, checks' conditions,
scoring, fix.yml, and hiding. The lab is faked at our own boundary
(session.Lab): applying settings and running the fixed load."""
from __future__ import annotations

import json
import re

import pytest

from churnlab import diagnosis, paths
from churnlab.errors import LabError
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
    assert len(names) >= 6 and {"incident", "keepalive-trap", "pgbouncer-moved", "max-connections",
                                "no-kernel-changes", "mystery"} <= set(names)
    assert set(exercises.CAUSES) <= {v for k, v in vars(diagnosis).items() if k.isupper() and isinstance(v, str)}
    for name in names:
        ex = exercises.get(name, 1)
        assert ex.cause in exercises.CAUSES and ex.hints and ex.vus <= ex.iterations


def test_every_reference_solution_changes_the_scenario_and_nothing_forbidden():
    for name in exercises.names():
        ex = exercises.get(name, 3)
        start = workspace.Fix.of_selection(ex.scenario.selection())
        fixed = start.with_changes(ex.solution)
        assert fixed != start, name
        assert workspace.forbidden_changes(start, fixed, ex.forbidden) == [], name


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
    ({"gunicorn": {"worker_class": "gevent"}}, "gunicorn.worker_class: 'gevent' is not one of"),
    ({"gunicorn": {"workers": 0}}, "gunicorn.workers: WORKERS='0'"),
    ({"gunicorn": {"threads": "many"}}, "gunicorn.threads: THREADS='many'"),
    ({"django": {"conn_max_age": -1}}, "django.conn_max_age: CONN_MAX_AGE='-1'"),
    ({"pgbouncer": "maybe"}, "pgbouncer: 'maybe' is not one of"),
    ({"sysctls": {"net.ipv4.ip_local_port_range": "60000 1024"}}, "must be two ports"),
    ({"sysctls": {"net.ipv4.tcp_tw_reuse": "3"}}, "must be 0, 1 or 2"),
    ({"sysctls": {"vm.swappiness": "1"}}, "sysctls.vm.swappiness: not a sysctl the lab sets"),
])
def test_a_bad_value_in_fix_yml_is_one_line_naming_the_field(change, message):
    start = workspace.Fix.of_selection(exercises.get("incident").scenario.selection())
    data = start.sections()
    for section, value in change.items():
        data[section] = {**data[section], **value} if isinstance(value, dict) else value
    with pytest.raises(LabError, match=re.escape(message)) as info:
        workspace.parse(data)
    assert "\n" not in str(info.value) and str(info.value).startswith(workspace.shown())


def test_fix_yml_round_trips_and_broken_yaml_is_one_line():
    start = workspace.Fix.of_selection(exercises.get("pgbouncer-moved").scenario.selection())
    workspace.write(start, "pgbouncer-moved", ("sysctls",))
    text = workspace.FIX_FILE.read_text()
    assert "Not yours to change in this exercise: sysctls" in text and "pgbouncer: remote" in text
    assert workspace.read() == start
    workspace.FIX_FILE.write_text("gunicorn: [unclosed\n")
    with pytest.raises(LabError, match="not valid YAML") as info:
        workspace.read()
    assert "\n" not in str(info.value)


# -- the state machine -----------------------------------------------------------
def test_a_whole_session_start_hints_answers_checks_stop(sandbox):
    lab = FakeLab(FAILING, PASSING)
    ex, state = session.start("incident", None, lab)
    assert lab.applied == [workspace.Fix.of_selection(ex.scenario.selection())] == [workspace.read()]
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
    assert not passed and [c.name for c in conditions if not c.passed] == ["zero DB errors"]
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
    assert [c.passed for c in low] == [True, True, False]


def test_conditions_name_the_number_that_failed():
    ex = exercises.get("pgbouncer-moved")
    found = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 2000}, [], 100))
    assert [(c.passed, c.detail) for c in found] == [
        (True, "0 of 2,000 requests answered 499 (a DB error); the app logged 0 DB errors"),
        (False, "Postgres client backends peaked at 100")]
    found = session.evaluate(ex, FAILING)
    assert "1,100 of 2,000 requests answered 499 (a DB error); the app logged 1,100 DB errors (1,100 x EADDRNOTAVAIL" \
        in found[0].detail
    unmeasured = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 2000}, [], None))
    assert not unmeasured[1].passed and "not measured" in unmeasured[1].detail
    transport = session.evaluate(ex, Figures("r", 2000, 300.0, {"200": 1990, "0": 10}, [], 20))
    assert not transport[0].passed and "10 client transport failures (at most 2 allowed)" in transport[0].detail


def test_solve_is_scored_as_solved_by_solution():
    lab = FakeLab(Figures("r", 2000, 500.0, {"200": 2000}, [], 41))
    ex, _ = session.start("max-connections", None, lab)
    passed, _, _, why = session.solve(lab)
    assert passed and why == ex.why
    assert workspace.read() == workspace.Fix(**session.read_state().start_fix).with_changes(ex.solution)
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



@pytest.mark.parametrize("name", ["incident", "keepalive-trap", "pgbouncer-moved", "max-connections",
                                  "no-kernel-changes", "mystery"])
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
    assert wrong.code == 1 and "socket-backlog is not what happens here" in wrong.stderr
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


def test_an_exercise_that_allows_diagnose_lets_it_through(fake_lab):
    session.start("no-kernel-changes", None, fake_lab)
    labport.guard_diagnose()  # no LabError
