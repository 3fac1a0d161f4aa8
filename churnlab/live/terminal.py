"""A verdict as a person reads it: the case, its evidence and the fixes, best first."""
from __future__ import annotations

from churnlab.core.console import console


def verdict(v) -> None:
    colour = "green" if v.case == "healthy" else "red"
    console.print(f"[bold {colour}]verdict ({v.case}):[/] {v.headline}")
    for line in v.evidence:
        console.print(f"  - {line}")
    if v.fixes:
        console.print("[bold]fixes, best first:[/]")
        for i, fix in enumerate(v.fixes, 1):
            hint = fix.shown_by if fix.shown_by.startswith("make ") else f"make lab-up {fix.shown_by}"
            console.print(f"  {i}. {fix.action} [dim]({hint})[/]")
