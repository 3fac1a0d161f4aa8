"""Solution bots: every exercise on the real lab, as a trainee would run it.

Every exercise: start, the check fails before any fix (on the condition the
exercise is about), and no output or run folder names the hidden variant,
profile or knobs. The full cycle (a plausible wrong fix fails; the reference
solution passes; the right answer is accepted and a wrong one refused; the
score is written) runs for FULL_CYCLE only, to keep within the e2e budget;
the others' reference solutions are checked by the unit and contract tests
(valid, nothing forbidden) and by `make exercise-solve` by hand.
"""
from __future__ import annotations

import json

import pytest

from churnlab.paths import RESULTS_DIR
from churnlab.training import exercises, workspace

pytestmark = pytest.mark.e2e

# name, SEED, a plausible wrong fix (fix.yml sections) or None for start + check-fails only
PLAN = [
    ("no-kernel-changes", None, {"sysctls": {"net.ipv4.ip_local_port_range": "1024 65535",
                                             "net.ipv4.tcp_tw_reuse": "1"}}),
    ("max-connections", None, {"gunicorn": {"threads": 20}}),  # halved, still 4 x 20 = 80 > 60
    ("incident", None, None),
    ("keepalive-trap", None, None),
    ("pgbouncer-moved", None, None),
    ("mystery", 9, None),  # draws max-connections with WORKERS=5: the hidden gthread must not show
]
FULL_CYCLE = [name for name, _, wrong in PLAN if wrong is not None]



def _runs() -> set[str]:
    return {p.name for p in RESULTS_DIR.iterdir() if p.is_dir()} if RESULTS_DIR.exists() else set()


@pytest.mark.parametrize("name,seed,wrong", PLAN, ids=[p[0] for p in PLAN])
def test_exercise_solution_bot(exercise_cli, name, seed, wrong):
    ex = exercises.get(name, seed)
    before = _runs()
    code, out = exercise_cli("exercise", "start", EX=name, **({"SEED": str(seed)} if seed is not None else {}))
    assert code == 0, out
    assert f"make load VUS={ex.vus} ITERATIONS={ex.iterations}" in out

    code, out = exercise_cli("exercise", "check")  # before any fix
    assert code == 1 and "✗ zero DB errors" in out and "check failed" in out, out

    if name == "incident":  # the lab's own commands during an exercise: same stack, no names, no verdict
        # (after the check: a load before it would cost the check a fresh app)
        code, out = exercise_cli("up")
        assert code == 0 and "the running exercise's app host" in out, out
        code, out = exercise_cli("load", VUS="50", ITERATIONS="200")  # small: only its output matters here
        assert code == 0 and "exercise incident: the load" in out and "verdict" not in out, out
        code, out = exercise_cli("diagnose")
        assert code == 2 and "make diagnose is off during exercise 'incident'" in out

    if wrong is not None:
        fix = workspace.read()
        workspace.write(fix.with_changes(wrong), name, ex.forbidden)
        code, out = exercise_cli("exercise", "check")
        assert code == 1 and "check failed" in out, out
        code, out = exercise_cli("exercise", "answer", CAUSE="socket-backlog")
        assert code == 1 and ex.cause not in out
        code, out = exercise_cli("exercise", "answer", CAUSE=ex.cause)
        assert code == 0 and "right:" in out
        code, out = exercise_cli("exercise", "solve")
        assert code == 0 and "check passed: solved" in out, out

    code, out = exercise_cli("exercise", "stop")
    assert code == 0, out
    scores = sorted((RESULTS_DIR / "training").glob(f"{name}-*.json"))
    record = json.loads(scores[-1].read_text())
    assert record["checks_tried"] == (1 if wrong is None else 3)
    if wrong is not None:
        assert record["solved_by_solution"] and record["cause_named"] and record["wrong_answers"] == 1
        failed = [c for c in record["checks"][1]["conditions"] if not c["passed"]]
        assert failed, record["checks"][1]
    print(f"\n{name}: " + " | ".join(
        f"check {i}: {'pass' if c['passed'] else 'fail'} "
        + (f"{c['figures']['status_counts']} peak DB {c['figures']['peak_db_connections']} "
           f"{c['figures']['rps']:.0f} req/s ceiling {c['figures']['ceiling_rps']}" if c["figures"] else
           c["conditions"][0]["detail"])
        for i, c in enumerate(record["checks"], 1)))

    # Hiding: no output, no run folder made meanwhile, no run.json's selection names the scenario.
    assert ex.leaks("\n".join(exercise_cli.outputs)) == []
    made = _runs() - before - {"training"}
    assert made and all(ex.leaks(run) == [] for run in made), made
    for run in made:
        selection = json.loads((RESULTS_DIR / run / "run.json").read_text())["selection"]
        assert (selection["variant"], selection["profile"], selection["knobs"]) == ("exercise", "exercise-host", {})
