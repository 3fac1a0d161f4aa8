"""The fixes in the order the latest `make rank` measured (results/rank-*/rank.json)."""
from __future__ import annotations

import json
from pathlib import Path

from churnlab.diagnosis.cases import Fix

RANK_RESULTS: Path | None = None  # where rank-*/rank.json are looked for; None: the checkout's results/


def measured_order(results: Path | None = None) -> list[tuple[str, str]]:
    """[(shown_by, what was measured)] best first, from the latest results/rank-*/rank.json; [] if none."""
    if results is None:
        results = RANK_RESULTS
    if results is None:
        try:
            from churnlab.core.paths import RESULTS_DIR as results
        except ImportError:  # a copy of this module on a host, without the checkout
            return []
    found = sorted(results.glob("rank-*/rank.json"))
    if not found:
        return []
    try:
        data = json.loads(found[-1].read_text())
        total = len(data["candidates"])
        return [(c["shown_by"], f"rank {i} of {total} in rank-{data['rank_id']}: healthz/ping "
                 f"{(c['summary']['min_ratio'] or 0):.2f} at worst, {100 * c['summary']['max_error_rate']:.1f}% errors")
                for i, c in enumerate(data["candidates"], 1) if c.get("shown_by")]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def follow_ranking(fixes: list[Fix], order: list[tuple[str, str]]) -> list[Fix]:
    """The fixes the rank measured first, in its order; the others after, in their static order.
    A candidate with knobs ("VARIANT=gthread WORKERS=4 ...") places the fix its variant shows."""
    position: dict[str, tuple[int, str]] = {}
    for i, (shown_by, what) in enumerate(order):
        position.setdefault(shown_by.split()[0], (i, what))
    placed = []
    for j, fix in enumerate(fixes):
        key = fix.shown_by.split()[0] if len(fix.shown_by.split()) == 1 else fix.shown_by
        i, what = position.get(key, (len(order) + j, ""))
        placed.append((i, Fix(fix.action, fix.shown_by, what)))
    return [fix for _, fix in sorted(placed, key=lambda p: p[0])]
