"""Reading a rank back: the latest rank.json, refreshed, and the block of docs/variants.md
(make rank-readme)."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, fields
from pathlib import Path

from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT
from churnlab.reports import matrix
from churnlab.reports.rank.constants import README_BEGIN, README_END, RULE
from churnlab.reports.rank.output import header, markdown, md_table, note, ranking_rows
from churnlab.reports.rank.ranking import Candidate, pair, ranked


def latest(results: Path | None = None) -> Path | None:
    found = sorted((results or matrix.RESULTS_DIR).glob("rank-*/rank.json"))
    return found[-1] if found else None


def refresh(data: dict) -> dict:
    """A rank.json's ratios, summaries and order recomputed from its figures with the current rule."""
    names = {f.name for f in fields(Candidate)}
    cands = [Candidate(**{k: v for k, v in c.items() if k in names}) for c in data["candidates"]]
    for c in cands:
        for lv in c.levels:
            lv["ratio"] = pair(lv.get("healthz"), lv.get("ping"))
    order = ranked(cands)
    return {**data, "rule": RULE, "order": [c.name for c in order], "recommended": order[0].name if order else None,
            "candidates": [{**asdict(c), "summary": c.summary()} for c in order]}


def read(rank_id: str | None) -> dict:
    if rank_id:
        path = matrix.RESULTS_DIR / (rank_id if rank_id.startswith("rank-") else f"rank-{rank_id}") / "rank.json"
        if not path.is_file():
            raise LabError(f"no rank {rank_id!r} under results/ (expected {path.relative_to(ROOT)})")
    else:
        path = latest()
        if path is None:
            raise LabError("no rank under results/ yet: run `make rank` first")
    data = refresh(json.loads(path.read_text()))
    (path.parent / "rank.md").write_text(markdown(data))
    text = json.dumps(data, indent=2) + "\n"
    if path.read_text() != text:
        path.write_text(text)
    return data


def readme_block(data: dict) -> str:
    return "\n".join([README_BEGIN,
                      f"<!-- written by `make rank-readme RUN=rank-{data['rank_id']}` from "
                      f"results/rank-{data['rank_id']}/rank.json; do not edit by hand -->",
                      note(data), "", md_table(header(data), ranking_rows(data)),
                      f"Order: {data['rule']}. Target: healthz >= {data['target_ratio']} x ping with 0 errors; "
                      f"recommended: **{data['recommended']}**.", README_END])


def write_readme(data: dict, readme: Path | None = None) -> Path:
    readme = readme or ROOT / "docs" / "variants.md"
    text = readme.read_text()
    pattern = re.compile(re.escape(README_BEGIN) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise LabError(f"{readme.name} has no {README_BEGIN} ... {README_END} block to write the ranking into")
    new = pattern.sub(lambda _: readme_block(data), text, count=1)
    if new != text:
        readme.write_text(new)
    return readme
