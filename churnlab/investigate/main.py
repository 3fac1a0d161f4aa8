"""The probe as one command, standard library only: the single file's entry point
(`python3 churnlab-investigate.pyz [--db HOST:PORT ...] [--seconds N]
[--journal-unit UNIT | --log FILE] [--snapshot FILE]`); the venv's
`churnlab investigate` takes the same options (churnlab/cli/investigate.py).

Exit 0 when it ran, whatever the verdict; 2 with one line on bad input,
before anything is read; never a traceback."""
from __future__ import annotations

import argparse
import sys

from churnlab.core.errors import ExitStatus, LabError
from churnlab.investigate import args as probe_args
from churnlab.investigate import probe, snapshot, verdict

PROG = "churnlab investigate"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage and exits; here: one line
        raise LabError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Read-only: find the app server, its DB connections and their port "
                "budget, its errors, and give the verdict (writes nothing but --snapshot).")
    p.add_argument("--db", action="append", default=[], metavar="HOST:PORT",
                   help="a DB or PgBouncer address to watch (repeatable); default: every socket toward 5432/6432")
    p.add_argument("--seconds", default=str(probe_args.DEFAULT_SECONDS),
                   help=f"seconds to sample ({probe_args.SECONDS[0]}-{probe_args.SECONDS[1]})")
    p.add_argument("--journal-unit", default="", metavar="UNIT", help="read the app's errors from this unit's journal")
    p.add_argument("--log", default="", metavar="FILE", help="read the app's errors from this log file")
    p.add_argument("--snapshot", default="", metavar="FILE", help="write everything read to FILE (JSON, 0600)")
    return p


def investigate(checked: probe_args.Args) -> str:
    """Probe, write the snapshot if asked, and return the report."""
    snap = probe.run(checked)
    if checked.snapshot:
        snapshot.write(checked.snapshot, snap)
    text = verdict.report(snap)
    return text + (f"\nsnapshot: {checked.snapshot}" if checked.snapshot else "")


def main(argv: list[str] | None = None) -> int:
    try:
        ns = parser().parse_args(argv)
        checked = probe_args.check(ns.db, ns.seconds, ns.journal_unit, ns.log, ns.snapshot)
        print(investigate(checked), flush=True)
    except LabError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return ExitStatus.BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # noqa: BLE001: on a production host, one line, never a traceback
        print(f"error: the probe failed: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return ExitStatus.ERROR
    return ExitStatus.SUCCESS


def run() -> None:
    """The zipapp's entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
