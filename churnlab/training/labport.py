"""The real lab behind a training session, and what the lab's own commands do
while an exercise runs (through churnlab.core.hooks: training.hooks adds the
listeners; the lab's commands never name training).

An exercise's settings (the hidden scenario at first, then the trainee's fix)
become one variant and one profile, `exercise` and `exercise-host`, in a copy
of config/presets.yml under .lab/training/, which `activate` hands to
catalog.use_presets. lab.up, load.run and every other command then run
unchanged, and whatever they print or name (the lab's line, run folders,
run.json's selection) says `exercise`, never the hidden variant, profile or
knobs. `activate` runs at the start of every churnlab command while an
exercise runs, so `make lab-up`, `make load` and `make lab-logs` see the
exercise's stack (its db sizing through the stack's environment, and
`make load` the exercise's load generator unless the caller names one).

Hiding: .lab/training/lab.json keeps what was applied (the settings fix.yml
shows) and the runs made meanwhile, never the scenario's names: the db sizing
is derived again from the state (the exercise's name and SEED, read against
config/exercises.yml). Run folders made during an exercise get no verdict in
run.json; `make exercise-stop` writes each one's verdict when the lab goes down.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from churnlab import diagnosis
from churnlab.core import catalog, run_record
from churnlab.core.errors import LabError
from churnlab.evidence import k6_merge
from churnlab.training import session
from churnlab.training.exercises import Exercise
from churnlab.training.session import Figures
from churnlab.training.workspace import FixSettings

EX_VARIANT = "exercise"
EX_PROFILE = "exercise-host"
# `make load`'s generator during an exercise: the applied fix's, unless the caller names one.
LOADGEN_VARIABLES = {"LOADGENS": "loadgens", "LOADGEN_PORT_RANGE": "loadgen_port_range"}


@dataclass
class Active:
    """What this process runs with while an exercise runs (set by activate, cleared by down)."""

    exercise: bool = False
    pg_sizing: str | None = None                            # the db's sizing file (compose's PG_SIZING)
    load_defaults: dict[str, str] = field(default_factory=dict)  # LOADGEN_VARIABLES' values


active = Active()
STEERING = ("VARIANT", "PROFILE", *catalog.KNOBS)


def _lab_file() -> Path:
    return session.state_dir() / "lab.json"


def _presets_copy() -> Path:
    return session.state_dir() / "presets.yml"


def _read() -> dict:
    try:
        return json.loads(_lab_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write(data: dict) -> None:
    session.state_dir().mkdir(parents=True, exist_ok=True)
    _lab_file().write_text(json.dumps(data, indent=2) + "\n")


def activate() -> None:
    """While an exercise runs, point this process at its presets copy, its db sizing
    and (for `make load`) its load generator."""
    data = _read()
    try:
        state = session.read_state() if data else None
        if state is None:
            return
        exercise = state.exercise_of()
        applied = applied_fix(exercise, data)
    except LabError:  # a damaged state or exercises file: the exercise commands say so
        return
    catalog.use_presets(Path(data["presets"]))
    active.exercise = True
    active.pg_sizing = exercise.scenario.pg_sizing or None
    active.load_defaults = {name: str(getattr(applied, key)) for name, key in LOADGEN_VARIABLES.items()} \
        if applied is not None else {}


def deactivate() -> None:
    catalog.use_presets(None)
    active.exercise, active.pg_sizing, active.load_defaults = False, None, {}


def stack_env(env: dict[str, str]) -> None:
    """The exercise's db sizing in the environment `docker compose` gets (the caller's own otherwise)."""
    if not active.exercise:
        return
    if active.pg_sizing:
        env["PG_SIZING"] = active.pg_sizing
    else:
        env.pop("PG_SIZING", None)


def load_defaults() -> dict[str, str]:
    return dict(active.load_defaults)


def applied_fix(exercise: Exercise, data: dict | None = None) -> FixSettings | None:
    """The settings last applied: lab.json keeps only what they change from the scenario's."""
    data = _read() if data is None else data
    if "applied" not in data:
        return None
    return exercise.scenario.start_fix().with_changes(data["applied"])


def _write_presets(exercise: Exercise, fix: FixSettings, base_file: Path) -> Path:
    data = yaml.safe_load(base_file.read_text())
    base = data["variants"][exercise.scenario.variant]
    data["variants"][EX_VARIANT] = fix.preset(base)
    data["profiles"][EX_PROFILE] = {"about": "the running exercise's app host", "sysctls": dict(fix.sysctls)}
    data.pop("rank", None)
    path = _presets_copy()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Generated by churnlab's training mode while an exercise runs; do not edit.\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


def _app_part(changes: dict | None) -> dict | None:
    """What lab.up applies of a fix's changes (the load generator's part is the check's)."""
    return None if changes is None else {k: v for k, v in changes.items() if k != "loadgen"}


def _is_up() -> bool:
    from churnlab.compose import lab

    try:
        lab.current_stack()
    except LabError:
        return False
    return True


def _app_id(stack) -> str:
    return stack.run("ps", "-q", "app", capture=True, check=False).stdout.strip()


class ComposeLab:
    """session.Lab on the compose lab: lab.up for the settings, loadrun for the fixed load."""

    def apply(self, exercise: Exercise, fix: FixSettings) -> None:
        from churnlab.compose import lab

        data = _read()
        changes = fix.changes(exercise.scenario.start_fix())
        if _app_part(data.get("applied")) == _app_part(changes) and _is_up():
            data["applied"] = changes  # the generator's settings are the load's, not the stack's
            _write(data)
            return  # already running these settings: lab.up would change nothing
        if not data:  # the first apply: remember what to give back at the end
            base = catalog.presets_file()
            data = {"base_presets": str(base)}
        previous = applied_fix(exercise, data)
        converge = previous is not None and _is_up()
        path = _write_presets(exercise, fix, Path(data["base_presets"]))
        data.update(presets=str(path), applied=changes)
        _write(data)
        activate()
        if converge:
            # The exercise's stack runs: the same project and images (lab.up built them at the
            # start), new settings. Compose converges it without lab.up's image build: the app
            # alone when the DB path stays (no migrate again), else PgBouncer added or removed too.
            from churnlab.core.console import run_logged
            from churnlab.core.paths import STATE_DIR

            stack = lab.current_stack()
            which = ("--no-deps", "app") if previous.pgbouncer == fix.pgbouncer else ("--remove-orphans",)
            run_logged(stack.argv("up", "--detach", "--wait", "--no-build", "--pull", "never", *which),
                       "lab up: the new settings", STATE_DIR / "up.log", env=stack.env())
            return
        lab.up(catalog.Selection.of(EX_VARIANT, EX_PROFILE))

    def load(self, exercise: Exercise, label: str, endpoint: str = "/api/v1/healthz/") -> Figures:
        from churnlab.compose import lab
        from churnlab.load import run as loadrun

        stack = lab.current_stack()
        data = _read()
        if endpoint != "/api/v1/ping/" and data.get("loaded_app") and _app_id(stack) == data["loaded_app"]:
            # A load already ran on this app: its ports may still sit in TIME_WAIT.
            # Every check starts from a fresh app container (a fresh network namespace).
            from churnlab.core.console import run_logged
            from churnlab.core.paths import STATE_DIR

            run_logged(stack.argv("up", "--detach", "--wait", "--no-build", "--pull", "never", "--force-recreate",
                                  "--no-deps", "app"), "a fresh app for the check", STATE_DIR / "up.log",
                       env=stack.env())
        applied = applied_fix(exercise, data) or exercise.scenario.start_fix()
        params = loadrun.LoadParams(scenario="ab", vus=exercise.vus, iterations=exercise.iterations,
                                    keepalive=False, endpoint=endpoint, loadgens=applied.loadgens,
                                    loadgen_port_range=applied.loadgen_port_range)
        run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{EX_VARIANT}-{exercise.name}-{label}"
        result = loadrun.run(stack, params, run_id=run_id)
        withhold_verdict(result)
        mark_loaded(stack)
        s = result.summary
        per = result.record.load.per_loadgen if result.record else []
        limits = diagnosis.loadgen_reasons(diagnosis.loadgen_facts(diagnosis.Facts(requests=s.requests),
                                                                   result.record.load)) if result.record else []
        return Figures(run_id=result.run_id, requests=s.requests, rps=s.rps, status_counts=dict(s.status_counts),
                       app_errors=result.errors, peak_db_connections=result.peak_db_connections,
                       loadgen_failures=sum(int((g.get("k6_errors") or {}).get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0))
                                            for g in per),
                       dropped_iterations=sum(int(g.get("dropped_iterations") or 0) for g in per),
                       loadgen_limits=limits)

    def down(self) -> None:
        from churnlab.compose import lab

        data = _read()
        try:
            reveal_verdicts(data.get("runs") or [])
            lab.down()
        finally:
            deactivate()
            _lab_file().unlink(missing_ok=True)
            _presets_copy().unlink(missing_ok=True)


def withhold_verdict(result) -> None:
    """The run's folder keeps no verdict while the exercise runs (it names the cause);
    the run is remembered, and `make exercise-stop` writes its verdict."""
    if result.record is not None and result.record.verdict is not None:
        result.record.verdict = None
        run_record.write(result.run_dir, result.record)
    data = _read()
    if data:
        data["runs"] = [*data.get("runs", []), str(result.run_dir)]
        _write(data)


def reveal_verdicts(runs: list[str]) -> None:
    """The verdict of each run made during the exercise, into its run.json (for the trainer, afterwards)."""
    for folder in runs:
        run_dir = Path(folder)
        try:
            record = run_record.read(run_dir)
            if record.status == run_record.FINISHED and record.verdict is None:
                record.verdict = diagnosis.diagnose(diagnosis.facts_from_run(run_dir)).as_dict()
                run_record.write(run_dir, record)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder removed meanwhile, or damaged: nothing to reveal


def mark_loaded(stack) -> None:
    """A load ran on the app as it is now: the next check starts it afresh."""
    data = _read()
    if data:
        data["loaded_app"] = _app_id(stack)
        _write(data)


# -- what the lab's own commands do while an exercise runs ---------------------
def running_exercise() -> Exercise | None:
    state = session.read_state()
    return state.exercise_of() if state else None


def guard_up() -> bool:
    """`make lab-up` during an exercise: no VARIANT/PROFILE/knobs; it brings the exercise's
    stack back as last applied. False when no exercise runs (lab-up goes on as usual)."""
    exercise = running_exercise()
    if exercise is None:
        return False
    named = [name for name in STEERING if os.environ.get(name, "").strip()]
    if named:
        raise LabError(f"exercise {exercise.name!r} is running: {', '.join(named)} cannot be chosen now; "
                       "change training/workspace/fix.yml and run `make exercise-check` (or `make exercise-stop`)")
    applied = applied_fix(exercise)
    if applied is None:
        raise LabError(f"exercise {exercise.name!r} has no applied settings: `make exercise-stop`, then start it again")
    ComposeLab().apply(exercise, applied)
    return True


def guard_diagnose() -> None:
    exercise = running_exercise()
    if exercise is not None and not exercise.diagnose:
        raise LabError(f"make diagnose is off during exercise {exercise.name!r}: investigate with the runbook's "
                       "commands (docs/runbook.md), or take a hint with `make exercise-hint`")


def summary(stack, result) -> bool:
    """`make load` during an exercise: the summary without the lab's names, and the
    verdict only where the exercise allows make diagnose. False when no exercise runs."""
    exercise = running_exercise()
    if exercise is None:
        return False
    from churnlab.load import show

    withhold_verdict(result)
    mark_loaded(stack)
    show.run_summary(result, title=f"exercise {exercise.name}: the load", show_verdict=exercise.diagnose)
    return True
