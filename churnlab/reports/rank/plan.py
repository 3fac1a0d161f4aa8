"""The rank's plan: its candidates (config/presets.yml's rank list), their labels, and every name
checked before anything starts."""
from __future__ import annotations

from churnlab.core import catalog
from churnlab.core.errors import LabError
from churnlab.load.run import LoadParams
from churnlab.reports import matrix
from churnlab.reports.rank.constants import HEALTHZ, PING, REPRO


def candidates(names: list[str]) -> list[catalog.Selection]:
    """The rank list, or the named part of it: a variant of the list, or any variant+profile."""
    listed = catalog.rank_candidates()
    if not names:
        if not listed:
            raise LabError("config/presets.yml has no rank: list; name candidates with RANK_VARIANTS=variant+profile")
        return listed
    chosen = []
    for name in names:
        if "+" in name:
            variant, _, profile = name.partition("+")
            chosen.append(catalog.Selection.of(variant, profile))
            continue
        found = [c for c in listed if c.variant == name]
        if not found:
            catalog.check("variant", name)
            raise LabError(f"variant {name!r} is not in the rank list ({', '.join(label(c) for c in listed)}); "
                           f"name it with its profile, e.g. RANK_VARIANTS={name}+default")
        chosen += found
    return chosen


def label(sel: catalog.Selection) -> str:
    knobs = "".join(f" {k}={v}" for k, v in sel.knobs.items())
    return f"{sel.variant}+{sel.profile}{knobs}"


def shown_by(sel: catalog.Selection) -> str:
    """How the diagnosis names the fix: its variant, or its profile when the variant is the incident's;
    "" for an incident's variant on the default profile (no fix: the trap measured beside its fix)."""
    if sel.variant in catalog.incident("variant"):
        return f"PROFILE={sel.profile}" if sel.profile != "default" else ""
    return " ".join([f"VARIANT={sel.variant}", *(f"{k}={v}" for k, v in sel.knobs.items())])


def repro_applies(sel: catalog.Selection) -> bool:
    """A candidate whose variant is the incident's own is a fix only through its profile."""
    return sel.variant not in catalog.incident("variant") and sel.profile != REPRO


def plan(chosen: list[catalog.Selection], levels: list[int], iterations: int,
         repro: bool = True) -> list[matrix.Step]:
    if not chosen or not levels:
        raise LabError("the rank needs at least one candidate and one level")
    steps = []
    for sel in chosen:
        for vus in levels:
            n = max(iterations, vus)
            steps.append(matrix.Step(sel, LoadParams(vus=vus, iterations=n, endpoint=PING), " on ping"))
            steps.append(matrix.Step(sel, LoadParams(vus=vus, iterations=n, endpoint=HEALTHZ), " on healthz",
                                     fresh=False))
        if repro and repro_applies(sel):
            repro_sel = catalog.Selection.of(sel.variant, REPRO, dict(sel.knobs))
            vus = min(levels)
            steps.append(matrix.Step(repro_sel, LoadParams(vus=vus, iterations=max(iterations, vus),
                                                           endpoint=HEALTHZ), " on healthz, repro check"))
    return steps
