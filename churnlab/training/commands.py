"""`churnlab exercise ...`: the commands behind `make exercise*` (EX, SEED, CAUSE)."""
from __future__ import annotations

import sys

import typer
from rich.markup import escape

from churnlab.core import bounds
from churnlab.core.console import console
from churnlab.core.errors import ExitStatus, LabError
from churnlab.training import exercises, session, workspace

app = typer.Typer(no_args_is_help=True, help="Training mode: exercises with a hidden cause, hints, a check, a score.")


def _opt(envvar: str, text: str) -> str:
    return typer.Option("", envvar=envvar, help=f"{text} [{envvar}]", show_default=False)


def _lab():
    from churnlab.training.labport import ComposeLab

    return ComposeLab()


def _seed(text: str) -> int | None:
    raw = text.strip()
    if not raw:
        return None
    if len(raw) > 6 or not raw.isascii() or not raw.isdigit():
        raise LabError(f"SEED={bounds.shown(text)} must be a whole number from 0 to 999,999")
    return int(raw)


@app.command("list")
def list_exercises() -> None:
    """The exercises, one line each: name, difficulty, what users see."""
    rows = exercises.listing()
    width = max(len(name) for name, _, _ in rows)
    for name, difficulty, about in rows:
        print(f"{name:<{width}}  {difficulty:<6}  {about}")


@app.command("start")
def start(ex: str = _opt("EX", "the exercise's name (make exercise lists them)"),
          seed: str = _opt("SEED", "the mystery's draw (a whole number); others ignore it")) -> None:
    """Bring the exercise's scenario up and print its ticket."""
    name = ex.strip()
    if not name:
        raise LabError(f"EX is required: make exercise-start EX=<name>; exercises: {', '.join(exercises.names())}")
    chosen_seed = _seed(seed)
    exercises.get(name, chosen_seed)  # an unknown EX is refused before anything starts
    exercise, state = session.start(name, chosen_seed, _lab())
    console.rule(f"[bold]exercise {escape(name)}[/] ({exercise.difficulty})")
    console.print(escape(exercise.ticket(workspace.shown())), highlight=False)
    if state.seed is not None:
        console.print(f"(seed {state.seed}: `make exercise-start EX={name} SEED={state.seed}` draws the same again)")
    console.print(f"your fix: {workspace.shown()}; then `make exercise-check`. "
                  "`make exercise-hint` costs points; `make exercise-stop` ends it.", highlight=False)


@app.command("hint")
def hint() -> None:
    """The next hint of the exercise's ladder (each costs points)."""
    given = session.hint()
    if given is None:
        console.print("no more hints: the runbook (docs/runbook.md) has the rest")
        return
    number, cost, text = given
    console.print(f"hint {number} (-{cost} points): {escape(text)}", highlight=False)


@app.command("answer")
def answer(cause: str = _opt("CAUSE", f"the mechanism: one of {', '.join(exercises.CAUSES)}")) -> None:
    """Name the mechanism: right or wrong is recorded; a wrong answer reveals nothing."""
    chosen = cause.strip()
    if not chosen:
        raise LabError(f"CAUSE is required: make exercise-answer CAUSE=<case>; causes: {', '.join(exercises.CAUSES)}")
    if session.answer(chosen):
        console.print(f"[green]right:[/] {chosen} is the mechanism. Now fix it in {workspace.shown()}.")
    else:
        console.print(f"[red]not the answer:[/] {chosen} is not the mechanism this exercise asks for (recorded). "
                      "Look again.")
        sys.exit(ExitStatus.ERROR)


def _report(passed: bool, conditions, figures) -> None:
    if figures is not None:
        errors = "; ".join(f"{e['count']:,} x {e['kind']}" + (f" (toward {e['target']})" if e["target"] else "")
                           for e in figures.app_errors[:3]) or "none logged"
        console.print(f"load: {figures.requests:,} requests at {figures.rps:,.0f} req/s; statuses "
                      + ", ".join(f"{c}: {n:,}" for c, n in sorted(figures.status_counts.items()))
                      + f"; app errors: {errors}; run results/{figures.run_id}/", highlight=False)
    for c in conditions:
        mark = "[green]✓[/]" if c.passed else "[red]✗[/]"
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}", highlight=False)
    console.print("[bold green]check passed: solved[/]" if passed else "[bold red]check failed[/]")


@app.command("check")
def check() -> None:
    """Apply fix.yml, run the exercise's fixed load, and say which condition failed, with its number."""
    passed, conditions, figures = session.check(_lab())
    _report(passed, conditions, figures)
    if not passed:
        sys.exit(ExitStatus.ERROR)


@app.command("solve")
def solve() -> None:
    """Apply the reference solution (scored as solved-by-solution) and check it."""
    passed, conditions, figures, why = session.solve(_lab())
    console.print(f"reference solution written to {workspace.shown()}: {escape(why)}", highlight=False)
    _report(passed, conditions, figures)
    if not passed:
        sys.exit(ExitStatus.ERROR)


@app.command("stop")
def stop() -> None:
    """Bring the exercise down; the score goes to results/training/<name>-<time>.json."""
    record, path = session.stop(_lab())
    how = ("solved by the reference solution" if record["solved_by_solution"]
           else "solved" if record["solved"] else "not solved")
    console.print(f"exercise {record['exercise']}: {how}; {record['points']} of {record['points_possible']} points "
                  f"({record['hints_used']} hints, {record['wrong_answers']} wrong answers, "
                  f"{record['checks_tried']} checks); score: {path}", highlight=False)
