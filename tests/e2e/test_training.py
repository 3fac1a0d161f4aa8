"""Solution bots: every exercise on the real lab, as a trainee would run it.

For every exercise: start; the check fails before any fix (on the condition
the exercise is about); a plausible wrong fix fails the check; a wrong answer
is refused and the right one accepted; `make exercise-solve`'s reference
solution passes; the score records all of it. And the hiding: no output and
no run folder names the hidden variant, profile or knobs, run.json holds no
verdict while the exercise runs (exercise-stop writes it), and the state
under .lab/training/ names none of it.

Cheap by design: one check per step, each the exercise's own fixed load (the
smallest that shows its effect), the wrong fix and the solution in the same
session, and a wrong fix that is forbidden costs no load at all.
"""
from __future__ import annotations

import json

import pytest

from churnlab.core.paths import RESULTS_DIR
from churnlab.training import exercises, session, workspace

pytestmark = pytest.mark.e2e

WIDE = {"net.ipv4.ip_local_port_range": "1024 65535", "net.ipv4.tcp_tw_reuse": "1"}
# name, SEED, a plausible wrong fix (fix.yml sections; None: not run), the condition that fails before any fix
PLAN = [
    ("no-kernel-changes", None, {"sysctls": WIDE}, session.ZERO_ERRORS),  # forbidden: fails with no load
    # Their plausible wrong fix, a CONN_MAX_AGE under eventlet (greenlet-local connections still churn),
    # is the persistent variant, which tests/e2e/test_variants.py shows failing like direct: not run
    # again here, for the e2e budget
    ("incident", None, None, session.ZERO_ERRORS),
    ("keepalive-trap", None, None, session.ZERO_ERRORS),
    # still through PgBouncer, still a new connection per request toward it
    ("pgbouncer-moved", None, {"django": {"conn_max_age": 600}}, session.ZERO_ERRORS),
    # more threads for the same one-connection pools: more waiters
    ("pool-starvation", None, {"gunicorn": {"threads": 80}}, session.ZERO_ERRORS),
    # the app host's range widened: the generator still runs out of its own
    ("loadgen-ports", None, {"sysctls": WIDE}, session.VALID),
    # ASGI: no wrong fix run (for the e2e budget); the first check fails on its DB errors
    ("asgi-leak", None, None, session.ZERO_ERRORS),
    # draws max-connections with WORKERS=5: the hidden gthread must not show. It is max-connections'
    # bot too (its scenario and solution, one more worker): threads halved, 5 x 20 = 100 > 60
    ("mystery", 9, {"gunicorn": {"threads": 20}}, session.ZERO_ERRORS),
]


def _runs() -> set[str]:
    return {p.name for p in RESULTS_DIR.iterdir() if p.is_dir()} if RESULTS_DIR.exists() else set()


def _record(run: str) -> dict:
    return json.loads((RESULTS_DIR / run / "run.json").read_text())


def _hidden_in_record(ex: exercises.Exercise, record: dict) -> list[str]:
    """The scenario's names in a run.json, besides app_settings (the settings fix.yml shows,
    where the worker class gthread is also a variant's name)."""
    text = json.dumps({k: v for k, v in record.items() if k != "app_settings"})
    return ex.leaks(text) + [w for w in ex.hidden_words() if w in json.dumps(record)]


def _state_text() -> str:
    return "\n".join(p.read_text() for p in (session.state_dir() / "state.json", session.state_dir() / "lab.json"))


@pytest.mark.parametrize("name,seed,wrong,fails_on", PLAN, ids=[p[0] for p in PLAN])
def test_exercise_solution_bot(exercise_cli, name, seed, wrong, fails_on):
    ex = exercises.get(name, seed)
    before = _runs()
    code, out = exercise_cli("exercise", "start", EX=name, **({"SEED": str(seed)} if seed is not None else {}))
    assert code == 0, out
    assert f"make load VUS={ex.vus} ITERATIONS={ex.iterations}" in out

    code, out = exercise_cli("exercise", "check")  # before any fix
    assert code == 1 and f"✗ {fails_on}" in out and "check failed" in out, out
    # while the exercise runs: no verdict in the run folder, no name in it or in the state
    (first,) = _runs() - before
    assert _record(first)["verdict"] is None and _hidden_in_record(ex, _record(first)) == []
    assert ex.leaks(_state_text()) == []

    if name == "incident":  # the lab's own commands during an exercise: same stack, no names, no verdict
        # (after the check: a load before it would cost the check a fresh app)
        code, out = exercise_cli("up")
        assert code == 0 and "the running exercise's app host" in out, out
        code, out = exercise_cli("load", VUS="50", ITERATIONS="200")  # small: only its output matters here
        assert code == 0 and "exercise incident: the load" in out and "verdict" not in out, out
        code, out = exercise_cli("diagnose")
        assert code == 2 and "make diagnose is off during exercise 'incident'" in out

    if wrong is not None:
        workspace.write(workspace.read().with_changes(wrong), name, ex.forbidden)
        code, out = exercise_cli("exercise", "check")
        assert code == 1 and "check failed" in out, out
        assert ex.leaks(_state_text()) == []
    code, out = exercise_cli("exercise", "answer", CAUSE="socket-backlog")
    assert code == 1 and ex.cause not in out
    code, out = exercise_cli("exercise", "answer", CAUSE=ex.cause)
    assert code == 0 and "right:" in out
    code, out = exercise_cli("exercise", "solve")
    assert code == 0 and "check passed: solved" in out, out
    made = _runs() - before - {"training"}
    assert all(_record(run)["verdict"] is None and _hidden_in_record(ex, _record(run)) == [] for run in made)

    code, out = exercise_cli("exercise", "stop")
    assert code == 0, out
    scores = sorted((RESULTS_DIR / "training").glob(f"{name}-*.json"))
    record = json.loads(scores[-1].read_text())
    assert record["checks_tried"] == (2 if wrong is None else 3) and record["checks_passed"] == 1
    assert record["solved_by_solution"] and record["cause_named"] and record["wrong_answers"] == 1
    assert [c for c in record["checks"][-2]["conditions"] if not c["passed"]], record["checks"][-2]
    print(f"\n{name}: " + " | ".join(
        f"check {i}: {'pass' if c['passed'] else 'fail'} "
        + (f"{c['figures']['status_counts']} k6 own failures {c['figures']['loadgen_failures']} "
           f"peak DB {c['figures']['peak_db_connections']} {c['figures']['rps']:.0f} req/s "
           f"ceiling {c['figures']['ceiling_rps']}" if c["figures"] else c["conditions"][0]["detail"])
        for i, c in enumerate(record["checks"], 1)))

    # Hiding: no output, no run folder's name or selection names the scenario; the verdicts come at stop.
    assert ex.leaks("\n".join(exercise_cli.outputs)) == []
    made = _runs() - before - {"training"}
    assert made and all(ex.leaks(run) == [] for run in made), made
    for run in made:
        selection = _record(run)["selection"]
        assert (selection["variant"], selection["profile"], selection["knobs"]) == ("exercise", "exercise-host", {})
    checks = [c["figures"]["run_id"] for c in record["checks"] if c["figures"]]
    assert all(_record(run)["verdict"] for run in checks), checks
