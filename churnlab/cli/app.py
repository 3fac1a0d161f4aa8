"""The command line put together: every command group, training's listeners,
and one way to end: a problem the user can fix is one line on stderr and
ExitStatus.BAD_INPUT; Ctrl-C is ExitStatus.INTERRUPTED."""
from __future__ import annotations

import importlib
import sys

import typer
from rich.markup import escape

from churnlab.cli import alerts, hosts, investigate, lab, load, reports
from churnlab.core import hooks
from churnlab.core.console import console
from churnlab.core.errors import ExitStatus, LabError
from churnlab.training import commands as training
from churnlab.training import hooks as training_hooks

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce PostgreSQL connection churn and ephemeral-port exhaustion.")
for group in (lab.app, load.app, reports.app, investigate.app, alerts.app):
    app.registered_commands += group.registered_commands
app.add_typer(training.app, name="exercise")
app.add_typer(hosts.app, name="hosts")
training_hooks.register()


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """typer's parse errors: from its vendored click (typer >= 0.20) or from click itself."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


NO_ARGS, USAGE, ABORT = _click_errors("NoArgsIsHelpError"), _click_errors("UsageError"), _click_errors("Abort")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: a problem the user can fix is one line on stderr and exit code 2."""
    try:
        hooks.command_starting.fire()  # e.g. while an exercise runs, every command sees its stack
        code = app(args=argv, standalone_mode=False, prog_name="churnlab")
    except LabError as exc:
        first, *rest = str(exc).splitlines() or [""]
        console.print(f"[red]error:[/] {escape(first)}", highlight=False, soft_wrap=True)
        for line in rest:  # a failed command's log tail, after the one line
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except NO_ARGS as exc:
        ctx = getattr(exc, "ctx", None)
        print(ctx.get_help() if ctx else "", file=sys.stderr)
        sys.exit(ExitStatus.BAD_INPUT)
    except USAGE as exc:
        console.print(f"[red]error:[/] {escape(_one_line(exc.format_message()))}", highlight=False, soft_wrap=True)
        sys.exit(ExitStatus.BAD_INPUT)
    except (*ABORT, KeyboardInterrupt):
        console.print("[yellow]interrupted[/]")
        sys.exit(ExitStatus.INTERRUPTED)
    sys.exit(code if isinstance(code, int) else ExitStatus.SUCCESS)
