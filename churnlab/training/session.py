"""The running exercise: its state in .lab/training/state.json, and what each
command does to it.

none --start--> running --check passes (or solve)--> solved --stop--> none
                  |  hint, answer, check (recorded)      |  (more checks, answers)
                  +-----------------stop-----------------+   stop writes the score

The lab behind it (bringing the scenario up, applying a fix, the fixed load)
is a `Lab` (churnlab.training.labport.ComposeLab on the real compose lab); the
checks' conditions, the answers and the score are decided here.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from churnlab.core import files, paths
from churnlab.core.errors import LabError
from churnlab.training import exercises, workspace
from churnlab.training.exercises import Exercise
from churnlab.training.workspace import FixSettings

WRONG_ANSWER_COST = 10
NEVER_NAMED_COST = 20  # solved without ever naming the cause


def state_dir() -> Path:
    return paths.STATE_DIR / "training"


def state_file() -> Path:
    return state_dir() / "state.json"


def scores_dir() -> Path:
    return paths.RESULTS_DIR / "training"


@dataclass
class Figures:
    """What one check's load showed."""

    run_id: str
    requests: int
    rps: float
    status_counts: dict[str, int]
    app_errors: list[dict]
    peak_db_connections: int | None
    ceiling_rps: float | None = None  # /api/v1/ping/ under the same load, when the exercise asks for it
    loadgen_failures: int = 0         # requests k6 itself failed for want of its own ports (EADDRNOTAVAIL)
    dropped_iterations: int = 0       # iterations k6 dropped (too few VUs or too little time)
    loadgen_limits: list[str] = field(default_factory=list)  # diagnosis.loadgen_reasons: why k6 was the limit

    def logged_errors(self) -> int:
        return sum(e["count"] for e in self.app_errors)


@dataclass
class Condition:
    name: str
    passed: bool
    detail: str


class Lab(Protocol):
    def apply(self, exercise: Exercise, fix: FixSettings) -> None: ...
    def load(self, exercise: Exercise, label: str, endpoint: str = "/api/v1/healthz/") -> Figures: ...
    def down(self) -> None: ...


@dataclass
class State:
    exercise: str
    seed: int | None
    started: str
    started_ts: float
    hints_used: int = 0
    answers: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    solved_at: str | None = None
    solved_after_s: float | None = None
    solved_by_solution: bool = False

    def exercise_of(self) -> Exercise:
        return exercises.get(self.exercise, self.seed)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_state() -> State | None:
    try:
        return State(**json.loads(state_file().read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise LabError(f"{state_file()} is damaged ({exc}): remove {state_dir()} and run `make lab-down`") from None


def running() -> State:
    state = read_state()
    if state is None:
        raise LabError("no exercise is running: `make exercise` lists them, `make exercise-start EX=<name>` starts one")
    return state


def _write(state: State) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    files.write_atomic(state_file(), json.dumps(asdict(state), indent=2) + "\n")


def start(name: str, seed: int | None, lab: Lab) -> tuple[Exercise, State]:
    """Bring the hidden scenario up and write the trainee's fix.yml with its settings."""
    current = read_state()
    if current is not None:
        raise LabError(f"exercise {current.exercise!r} is running: `make exercise-stop` ends it first")
    if name == "mystery" and seed is None:  # a mystery without SEED draws one (recorded in the state)
        seed = int.from_bytes(os.urandom(2), "big")
    exercise = exercises.get(name, seed)
    start_fix = exercise.scenario.start_fix()
    # Only the name and SEED (and what the trainee does): the scenario is derived again
    # from config/exercises.yml, so the state names none of it.
    state = State(exercise=name, seed=exercise.seed, started=_now(), started_ts=time.time())
    _write(state)  # from here `make exercise-stop` can always clean up
    workspace.write(start_fix, name, exercise.forbidden, exercise.scenario.base_preset())
    lab.apply(exercise, start_fix)
    return exercise, state


def hint() -> tuple[int, int, str] | None:
    """(number, cost, text) of the next hint, recorded; None when the ladder is used up."""
    state = running()
    ladder = state.exercise_of().hints
    if state.hints_used >= len(ladder):
        return None
    given = ladder[state.hints_used]
    state.hints_used += 1
    _write(state)
    return state.hints_used, given.cost, given.text


def answer(cause: str) -> bool:
    """Record an answer; True when it is the exercise's cause (a wrong one reveals nothing)."""
    if cause not in exercises.CAUSES:
        raise LabError(f"unknown CAUSE {cause!r}; valid causes: {', '.join(exercises.CAUSES)}")
    state = running()
    correct = cause == state.exercise_of().cause
    state.answers.append({"cause": cause, "correct": correct, "at": _now()})
    _write(state)
    return correct


VALID = "a valid measurement"
ZERO_ERRORS = "zero DB errors"


def evaluate(exercise: Exercise, figures: Figures) -> list[Condition]:
    """The exercise's conditions on one load's figures (the forbidden changes are checked before any load)."""
    found = [Condition(VALID, not figures.loadgen_limits,
                       "; ".join(figures.loadgen_limits) or
                       f"the load generator itself failed {figures.loadgen_failures:,} of {figures.requests:,} "
                       f"requests and dropped {figures.dropped_iterations:,} iterations")]
    counts = figures.status_counts
    transport = counts.get("0", 0)
    other = {code: n for code, n in counts.items() if code not in ("200", "0", "499")}
    kinds = "; ".join(f"{e['count']:,} x {e['kind']}" for e in figures.app_errors[:3])
    answered_499, logged = counts.get("499", 0), figures.logged_errors()
    ok = answered_499 == 0 and logged == 0 and not other and transport <= figures.requests // 1000
    detail = (f"{answered_499:,} of {figures.requests:,} requests answered 499 (a DB error); "
              f"the app logged {logged:,} DB errors" + (f" ({kinds})" if kinds else "")
              + (f"; other statuses {other}" if other else "")
              + (f"; {transport:,} client transport failures (at most {figures.requests // 1000} allowed)"
                 if transport else ""))
    found.append(Condition(ZERO_ERRORS, ok, detail))
    peak = figures.peak_db_connections
    found.append(Condition(f"DB connections at most {exercise.db_connections_max:,}",
                           peak is not None and peak <= exercise.db_connections_max,
                           f"Postgres client backends peaked at {peak:,}" if peak is not None
                           else "Postgres client backends were not measured"))
    share = exercise.min_throughput_share
    if share:
        if figures.ceiling_rps is None:
            found.append(Condition(f"throughput at least {share:.0%} of the ceiling", False,
                                   "not measured (the conditions above failed first)"))
        else:
            ratio = figures.rps / figures.ceiling_rps if figures.ceiling_rps else 0.0
            found.append(Condition(f"throughput at least {share:.0%} of the ceiling", ratio >= share,
                                   f"healthz {figures.rps:,.0f} req/s = {ratio:.0%} of /api/v1/ping/'s "
                                   f"{figures.ceiling_rps:,.0f} req/s"))
    return found


def check(lab: Lab, by_solution: bool = False) -> tuple[bool, list[Condition], Figures | None]:
    """Apply fix.yml, run the exercise's fixed load and decide; recorded either way."""
    state = running()
    exercise = state.exercise_of()
    fix = workspace.read()
    start_fix = exercise.scenario.start_fix()
    misfits = fix.misfits(exercise.scenario.base_preset())
    if misfits:  # a value this host cannot run: bad input, like any bad value in fix.yml
        raise LabError(f"{workspace.shown()}: {misfits[0]}")
    forbidden = workspace.forbidden_changes(start_fix, fix, exercise.forbidden)
    figures: Figures | None = None
    if forbidden:
        conditions = [Condition("no forbidden change", False, "; ".join(forbidden))]
    else:
        lab.apply(exercise, fix)
        label = f"check{len(state.checks) + 1}"
        figures = lab.load(exercise, label)
        conditions = evaluate(exercise, figures)
        if exercise.min_throughput_share and all(c.passed for c in conditions
                                                 if not c.name.startswith("throughput")):
            figures.ceiling_rps = lab.load(exercise, f"{label}-ceiling", endpoint="/api/v1/ping/").rps
            conditions = evaluate(exercise, figures)
        conditions.insert(0, Condition("no forbidden change", True, "none"))
    passed = all(c.passed for c in conditions)
    state = running()  # re-read: the lab may have taken a while
    state.checks.append({"at": _now(), "passed": passed, "by_solution": by_solution,
                         "changed": fix.changes(start_fix),
                         "conditions": [asdict(c) for c in conditions],
                         "figures": asdict(figures) if figures else None})
    if passed and state.solved_at is None:
        state.solved_at = _now()
        state.solved_after_s = round(time.time() - state.started_ts, 1)
        state.solved_by_solution = by_solution
    _write(state)
    return passed, conditions, figures


def solve(lab: Lab) -> tuple[bool, list[Condition], Figures | None, str]:
    """The reference solution into fix.yml, then the check; the score says solved-by-solution."""
    state = running()
    exercise = state.exercise_of()
    start_fix = exercise.scenario.start_fix()
    workspace.write(start_fix.with_changes(exercise.solution), state.exercise, exercise.forbidden,
                    exercise.scenario.base_preset())
    passed, conditions, figures = check(lab, by_solution=True)
    return passed, conditions, figures, exercise.why


def score(state: State, exercise: Exercise, stopped_ts: float) -> dict:
    """The score record: what the trainee did, and the points it earned."""
    hint_cost = sum(h.cost for h in exercise.hints[:state.hints_used])
    wrong = sum(1 for a in state.answers if not a["correct"])
    named = any(a["correct"] for a in state.answers)
    solved = state.solved_at is not None
    points = 0
    if solved and not state.solved_by_solution:
        points = max(0, exercise.points - hint_cost - WRONG_ANSWER_COST * wrong - (0 if named else NEVER_NAMED_COST))
    return {"exercise": state.exercise, "seed": state.seed, "difficulty": exercise.difficulty,
            "started": state.started, "stopped": datetime.fromtimestamp(stopped_ts, timezone.utc)
            .isoformat(timespec="seconds"),
            "solved": solved, "solved_by_solution": state.solved_by_solution,
            "time_to_fix_s": state.solved_after_s, "hints_used": state.hints_used, "hint_cost": hint_cost,
            "answers": state.answers, "cause_named": named, "wrong_answers": wrong,
            "checks_tried": len(state.checks), "checks_passed": sum(1 for c in state.checks if c["passed"]),
            "checks": state.checks, "points": points, "points_possible": exercise.points}


def stop(lab: Lab) -> tuple[dict, Path]:
    """Bring the lab down and write results/training/<name>-<time>.json; the state goes."""
    state = running()
    stopped = time.time()
    record = score(state, state.exercise_of(), stopped)
    lab.down()
    scores_dir().mkdir(parents=True, exist_ok=True)
    path = scores_dir() / f"{state.exercise}-{datetime.fromtimestamp(stopped, timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    state_file().unlink(missing_ok=True)
    return record, path
