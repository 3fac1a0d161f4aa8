"""Figures as people read them: thousands separated, a mark where there is none."""
from __future__ import annotations


def number(value: int | float | None, spec: str = ",.0f", missing: str = "-", unit: str = "") -> str:
    """`value` in the format `spec` ("," keeps a float's decimals), with `unit` after it;
    `missing` when there is no value."""
    return missing if value is None else f"{value:{spec}}{unit}"
