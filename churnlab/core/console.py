"""The one console (stderr, so stdout stays clean for pipes) and long commands
under a spinner with their output kept in a log."""
from __future__ import annotations

import subprocess
from pathlib import Path

from rich.console import Console

from churnlab.core.errors import LabError

console = Console(stderr=True, soft_wrap=True)  # one line stays one line in logs and pipes


def run_logged(argv: list[str], title: str, log: Path, env: dict[str, str] | None = None) -> None:
    """Run argv under a spinner; on failure show the log's tail and raise."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out, console.status(f"{title} (log: {log})"):
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise LabError(f"{title} failed (exit {proc.returncode}); last lines of {log}:\n" + "\n".join(tail))
    console.print(f"[green]✓[/] {title}")
