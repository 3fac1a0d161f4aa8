"""The one console (stderr, so stdout stays clean for pipes) and long commands
under a spinner with their output kept in a log."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from churnlab.core.errors import LabError

console = Console(stderr=True, soft_wrap=True)  # one line stays one line in logs and pipes


@dataclass(frozen=True)
class Logged:
    """One long command: its argv, its title, the log its output goes to, its environment."""
    argv: list[str]
    title: str
    log: Path
    env: dict[str, str] | None = None


def run_logged(argv: list[str], title: str, log: Path, env: dict[str, str] | None = None) -> None:
    """Run argv under a spinner; on failure show the log's tail and raise."""
    run_logged_together([Logged(argv, title, log, env)])


def run_logged_together(jobs: list[Logged]) -> None:
    """Run the commands at the same time under one spinner, each into its own log; when every one has
    ended, raise for the first that failed with its log's tail. A Ctrl-C (or any error) here stops the
    ones still running."""
    procs: list[tuple[Logged, subprocess.Popen]] = []
    title = "; ".join(f"{job.title} (log: {job.log})" for job in jobs)
    try:
        with console.status(title):
            for job in jobs:
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with job.log.open("w") as out:
                    procs.append((job, subprocess.Popen(job.argv, stdout=out, stderr=subprocess.STDOUT, env=job.env)))
            codes = [proc.wait() for _, proc in procs]
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    for (job, _), code in zip(procs, codes, strict=True):
        if code != 0:
            tail = job.log.read_text(errors="replace").splitlines()[-25:]
            raise LabError(f"{job.title} failed (exit {code}); last lines of {job.log}:\n" + "\n".join(tail))
    for job in jobs:
        console.print(f"[green]✓[/] {job.title}")
