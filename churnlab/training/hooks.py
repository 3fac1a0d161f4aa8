"""Training mode's listeners on the lab's events (churnlab.core.hooks): while an
exercise runs, every churnlab command sees its stack, `lab-up` brings it back
as last applied, `load` shows no hidden name and `diagnose` is off unless the
exercise allows it. The command line calls register() once."""
from __future__ import annotations

from churnlab.core import hooks
from churnlab.training import labport


def register() -> None:
    hooks.command_starting.add_listener(labport.activate)
    hooks.stack_env.add_listener(labport.stack_env)
    hooks.load_defaults.add_listener(labport.load_defaults)
    hooks.lab_up.add_listener(labport.guard_up)
    hooks.load_finished.add_listener(labport.summary)
    hooks.diagnose_starting.add_listener(labport.guard_diagnose)
