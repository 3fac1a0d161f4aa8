"""investigate: the read-only probe of a host the lab did not build, from the venv.
The same options, checks, probe and report as the single file (churnlab/investigate/main.py)."""
from __future__ import annotations

from typing import Annotated

import typer

from churnlab.investigate import args as probe_args

app = typer.Typer()


@app.command("investigate")
def investigate(
    db: Annotated[list[str] | None, typer.Option(
        "--db", metavar="HOST:PORT",
        help="a DB or PgBouncer address to watch (repeatable); default: every socket toward 5432/6432")] = None,
    seconds: str = typer.Option(str(probe_args.DEFAULT_SECONDS), "--seconds",
                                help=f"seconds to sample ({probe_args.SECONDS[0]}-{probe_args.SECONDS[1]})"),
    journal_unit: str = typer.Option("", "--journal-unit", metavar="UNIT",
                                     help="read the app's errors from this unit's journal"),
    log: str = typer.Option("", "--log", metavar="FILE", help="read the app's errors from this log file"),
    snapshot: str = typer.Option("", "--snapshot", metavar="FILE",
                                 help="write everything read to FILE (JSON, 0600); `make diagnose SNAPSHOT=FILE` "
                                      "reads it back"),
) -> None:
    """Read-only: the app server, its DB connections and their port budget, its errors, and the verdict."""
    from churnlab.investigate.main import investigate as run

    print(run(probe_args.check(db, seconds, journal_unit, log, snapshot)), flush=True)
