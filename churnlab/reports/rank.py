"""Which fix to pick: every fix of config/presets.yml's `rank:` list, measured side by side.

For each candidate and each concurrency level: a fresh stack, the ab load on
/api/v1/ping/ (no DB: the app's ceiling on this machine), then at once the same
load on /api/v1/healthz/ on the same stack. Two runs back to back rather than
one k6 run with two scenarios: k6 runs scenarios at the same time, so ping and
healthz would share the CPU and each other's queue, and neither rate would be
a ceiling. Back to back, both see the same machine, stack and generator, a few
seconds apart. The ceiling ratio is healthz req/s / ping req/s.

Then each candidate whose fix is its variant runs healthz once more on the
repro profile (1,000 ports, no TIME_WAIT reuse): does it hold when the host is
the incident's? A candidate whose variant is the incident's own (direct) is a
fix only through its profile: the column is "n/a" for it.

Every run goes through the one load path (matrix.run_steps -> lab.up,
loadrun.run) and leaves its run folder; results/rank-<id>/ gets rank.json,
rank.md and report.html (the fixes on one chart, then every run's series).
The order is a rule on the numbers (order_key), written into rank.json.
"""
from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from churnlab import diagnosis
from churnlab.core import catalog, run_record
from churnlab.core.errors import LabError
from churnlab.core.fmt import number as _num
from churnlab.core.paths import ROOT
from churnlab.evidence import k6_merge
from churnlab.load.run import LoadParams
from churnlab.reports import html as html_report
from churnlab.reports import matrix

PING = "/api/v1/ping/"
HEALTHZ = "/api/v1/healthz/"
REPRO = "repro"
TARGET_RATIO = 0.8
RULE = ("error-free at every level first, then holds under repro (n/a counts as holding), then the "
        "higher worst ceiling ratio (healthz/ping) across levels, then the lower error rate")
README_BEGIN, README_END = "<!-- rank:begin -->", "<!-- rank:end -->"
GENERATOR_SHARE = 0.5  # k6 used at least half the CPU the lab used: the generator, not the app, set the pace


# -- the plan ------------------------------------------------------------------
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
    """How the diagnosis names the fix: its variant, or its profile when the variant is the incident's."""
    if sel.variant in catalog.incident("variant"):
        return f"PROFILE={sel.profile}"
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


# -- one run's figures -----------------------------------------------------------
def figures(run_dir: Path, cpu: dict[str, float] | None = None, wall: float | None = None) -> dict:
    """What the rank reports of one run, from its run folder (and the CPU it used)."""
    r = run_record.read(run_dir)
    s = r.summary or {}
    evidence = run_record.read_evidence(run_dir / run_record.EVIDENCE)
    k6: dict[str, int] = {}  # k6's own request failures by kind (k6_merge), every generator
    for gen in r.load.per_loadgen:
        for kind, n in (gen.get("k6_errors") or {}).items():
            k6[kind] = k6.get(kind, 0) + int(n)
    requests = int(s.get("requests", 0))
    fig = {"run": r.run_id, "status": r.status, "requests": requests, "rps": round(float(s.get("rps", 0.0)), 1),
           "p50_ms": s.get("p50_ms"), "p99_ms": s.get("p99_ms"), "error_rate": float(s.get("error_rate", 0.0)),
           "app_errors": sum(e["count"] for e in r.app_errors),
           "peak_db": r.db.peak_client_backends,
           "peak_ports": run_record.peak(evidence, "netns", "local_ports_in_use"),
           "peak_port_pct": r.evidence.peak_port_use_pct,
           "k6_errors": k6, "generator_errors": sum(k6.get(k, 0) for k in k6_merge.GENERATOR_ERRORS),
           "verdict": (r.verdict or {}).get("case", r.status), "cpu_s": cpu or {}, "wall_s": wall}
    total_cpu = sum((cpu or {}).values())
    fig["k6_cpu_share"] = round(cpu.get("k6", 0.0) / total_cpu, 3) if cpu and total_cpu else None
    fig["cpu_ms_per_request"] = ({k: round(1000 * v / requests, 3) for k, v in cpu.items()}
                                 if cpu and requests else {})
    return fig


def failed_figures(error: str) -> dict:
    """A run that did not finish: no rate, every request counted as failed."""
    return {"run": None, "status": "failed", "error": error[:500], "requests": 0, "rps": 0.0, "p50_ms": None,
            "p99_ms": None, "error_rate": 1.0, "app_errors": 0, "peak_db": None, "peak_ports": None,
            "peak_port_pct": None, "k6_errors": {}, "generator_errors": 0, "verdict": "failed", "cpu_s": {},
            "wall_s": None, "k6_cpu_share": None, "cpu_ms_per_request": {}}


def generator_limited(fig: dict) -> bool:
    return (bool(fig.get("generator_errors")) or (fig.get("k6_cpu_share") or 0) >= GENERATOR_SHARE
            or fig.get("verdict") == diagnosis.LOADGEN_LIMITED)


# -- the ranking ---------------------------------------------------------------
@dataclass
class Candidate:
    name: str
    variant: str
    profile: str
    knobs: dict = field(default_factory=dict)
    about: str = ""
    levels: list[dict] = field(default_factory=list)  # [{vus, ping, healthz, ratio}]
    repro: dict = field(default_factory=dict)         # {applies, holds, verdict, run, error_rate}
    planned_levels: int = 0
    shown_by: str = ""  # the diagnosis's name for this fix: VARIANT=<v> [knobs], or PROFILE=<p> for direct
    app_versions: dict = field(default_factory=dict)  # what its app ran (the incident's stack or today's)

    @property
    def complete(self) -> bool:
        return len([lv for lv in self.levels
                    if (lv.get("healthz") or {}).get("status", "failed") != "failed"]) == self.planned_levels

    def failed_runs(self) -> int:
        return sum(1 for lv in self.levels for e in ("ping", "healthz") if (lv.get(e) or {}).get("status") == "failed")

    def ratios(self) -> list[float]:
        return [lv["ratio"] for lv in self.levels if lv.get("ratio") is not None]

    def max_error_rate(self) -> float:
        return max((lv["healthz"]["error_rate"] for lv in self.levels if lv.get("healthz")), default=1.0)

    def summary(self) -> dict:
        healthz = [lv["healthz"] for lv in self.levels if lv.get("healthz")]
        return {"min_ratio": min(self.ratios(), default=None), "max_error_rate": self.max_error_rate(),
                "peak_db": max((h["peak_db"] for h in healthz if h["peak_db"] is not None), default=None),
                "peak_ports": max((h["peak_ports"] for h in healthz if h["peak_ports"] is not None), default=None),
                "generator_limited": any(generator_limited(lv[e]) for lv in self.levels for e in ("ping", "healthz")
                                         if lv.get(e)),
                "complete": self.complete, "meets_target": bool(
                    self.complete and self.max_error_rate() == 0 and min(self.ratios(), default=0) >= TARGET_RATIO)}


def order_key(c: Candidate) -> tuple:
    """The ranking rule (RULE), as a sort key: smaller is better."""
    return (not c.complete, c.max_error_rate() > 0, c.repro.get("holds") is False,
            -min(c.ratios(), default=0.0), c.max_error_rate(), c.name)


def ranked(cands: list[Candidate]) -> list[Candidate]:
    return sorted(cands, key=order_key)


def pair(a: dict | None, b: dict | None) -> float | None:
    """The ceiling ratio: healthz req/s over ping req/s of the same level. A ping run with
    errors (timeouts drag its rate down) is no ceiling: no ratio then."""
    if not a or not b or not b.get("rps") or b.get("error_rate"):
        return None
    return round(a["rps"] / b["rps"], 3)


# -- running ---------------------------------------------------------------------
@dataclass
class RankResult:
    rank_dir: Path
    data: dict
    stopped: dict | None


def machine() -> dict:
    return {"cores": os.cpu_count(), "kernel": platform.release(), "machine": platform.machine(),
            "python": platform.python_version(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def run(chosen: list[catalog.Selection], levels: list[int], iterations: int, repro: bool = True) -> RankResult:
    steps = plan(chosen, levels, iterations, repro)
    rank_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rank_dir = matrix.RESULTS_DIR / f"rank-{rank_id}"
    rank_dir.mkdir(parents=True)
    before, started = machine(), time.monotonic()
    cands = {label(s): Candidate(label(s), s.variant, s.profile, dict(s.knobs), catalog.about("variant", s.variant),
                                 planned_levels=len(levels), shown_by=shown_by(s),
                                 repro={"applies": repro_applies(s) and repro, "holds": None})
             for s in chosen}
    found_versions: dict = {}

    def on_result(step: matrix.Step, result) -> None:
        if not found_versions and result.record is not None:
            found_versions.update(result.record.versions)
        cand = cands.get(label(step.selection))
        if cand is not None and not cand.app_versions and result.record is not None:
            cand.app_versions = dict(result.record.versions.get("app") or {})
        place(step, figures(result.run_dir, result.cpu_s, result.cpu_wall_s))

    def on_failure(step: matrix.Step, error: str) -> None:
        place(step, failed_figures(error))

    def place(step: matrix.Step, fig: dict) -> None:
        sel = step.selection
        if sel.profile == REPRO and step.label.endswith("repro check"):
            c = next(c for c in cands.values() if c.variant == sel.variant and c.knobs == sel.knobs
                     and c.repro.get("applies"))
            c.repro.update(holds=fig["verdict"] == "healthy" and fig["error_rate"] == 0, verdict=fig["verdict"],
                           run=fig["run"], error_rate=fig["error_rate"], app_errors=fig["app_errors"])
            return
        c = cands[label(sel)]
        endpoint = "ping" if step.params.endpoint == PING else "healthz"
        level = next((lv for lv in c.levels if lv["vus"] == step.params.vus), None)
        if level is None:
            level = {"vus": step.params.vus, "ping": None, "healthz": None, "ratio": None}
            c.levels.append(level)
        level[endpoint] = fig
        level["ratio"] = pair(level["healthz"], level["ping"])

    run_dirs, stopped = matrix.run_steps(steps, on_result, on_failure=on_failure)
    data = document(rank_id, list(cands.values()), levels, iterations, before, machine(),
                    round(time.monotonic() - started, 1), found_versions, stopped)
    write(rank_dir, data, run_dirs)
    return RankResult(rank_dir, data, stopped)


def document(rank_id: str, cands: list[Candidate], levels: list[int], iterations: int, before: dict, after: dict,
             seconds: float, found_versions: dict, stopped: dict | None) -> dict:
    order = ranked(cands)
    return {
        "rank_id": rank_id, "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {**before, "loadavg_before": before.pop("loadavg"), "loadavg_after": after["loadavg"]},
        "duration_s": seconds,
        "load": {"scenario": "ab", "levels": levels, "iterations": iterations, "keepalive": False,
                 "endpoints": [PING, HEALTHZ], "pairing": "ping then healthz back to back on the same fresh stack"},
        "rule": RULE, "target_ratio": TARGET_RATIO,
        "order": [c.name for c in order], "recommended": order[0].name if order else None,
        "candidates": [{**asdict(c), "summary": c.summary()} for c in order],
        "versions": found_versions, "stopped": stopped}


def write(rank_dir: Path, data: dict, run_dirs: list[Path]) -> None:
    (rank_dir / "rank.json").write_text(json.dumps(data, indent=2) + "\n")
    (rank_dir / "rank.md").write_text(markdown(data))
    section = "<section><h2>Which fix to pick</h2>" + _html_table(data) + "</section>"
    html_report.render(rank_dir, run_dirs, f"churnlab rank {data['rank_id']}", note(data), lead_html=section,
                       lead_figure=chart(data), summary=False)


# -- the outputs --------------------------------------------------------------------
def _repro(c: dict) -> str:
    r = c["repro"]
    if not r.get("applies"):
        return "n/a (the fix is its profile)" if c["variant"] in catalog.incident("variant") else "not run"
    if r.get("holds") is None:
        return "not measured"
    return "holds" if r["holds"] else f"fails ({r.get('verdict')}, {100 * r.get('error_rate', 0):.1f}% errors)"


def _per_level(c: dict, levels: list[int], get) -> str:
    by = {lv["vus"]: lv for lv in c["levels"]}
    return " / ".join(get(by[v]) if v in by else "-" for v in levels)


def ranking_rows(data: dict) -> list[list[str]]:
    rows = []
    levels = data["load"]["levels"]
    for i, c in enumerate(data["candidates"], 1):
        s = c["summary"]
        top = next((lv.get("healthz") or {} for lv in c["levels"] if lv["vus"] == max(levels)), {})
        rows.append([str(i), c["name"],
                     _per_level(c, levels, lambda lv: _num((lv.get("healthz") or {}).get("rps"))),
                     _per_level(c, levels, lambda lv: _num((lv.get("ping") or {}).get("rps"))),
                     _per_level(c, levels, lambda lv: _num(lv.get("ratio"), ".2f")),
                     f"{_num(top.get('p50_ms'))} / {_num(top.get('p99_ms'))}",
                     _num(100 * s["max_error_rate"], ".2f"), _num(s["peak_db"]), _num(s["peak_ports"]),
                     _repro(c), "the limit" if s["generator_limited"] else "not the limit"])
    return rows


def header(data: dict) -> list[str]:
    levels = "/".join(f"c={v:,}" for v in data["load"]["levels"])
    top = f"c={max(data['load']['levels']):,}"
    return ["#", "fix (variant+profile)", f"healthz req/s {levels}", f"ping req/s {levels}",
            f"ratio {levels}", f"p50/p99 ms {top}", "error % (max)", "peak DB conns", "peak ports in use",
            "holds under repro", "load generator (k6)"]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


APP_PACKAGES = ("django", "gunicorn", "psycopg2", "psycopg")


def app_stacks(data: dict) -> list[str]:
    """The app stacks that ran, each with the fixes that ran on it ("django 5.2.19,
    gunicorn 27.0.1, psycopg 3.3.9 (native-pool, gevent-pool)"); a rank without
    per-fix versions names the first run's."""
    stacks: dict[str, list[str]] = {}
    for c in data["candidates"]:
        app = c.get("app_versions") or {}
        text = ", ".join(f"{k} {app[k]}" for k in APP_PACKAGES if app.get(k))
        if text and c["variant"] not in stacks.setdefault(text, []):
            stacks[text].append(c["variant"])
    if len(stacks) > 1:
        return [f"{text} ({', '.join(variants)})" for text, variants in stacks.items()]
    if stacks:
        return list(stacks)
    app = (data.get("versions") or {}).get("app") or {}
    return [", ".join(f"{k} {app[k]}" for k in APP_PACKAGES if app.get(k))] if app else []


def note(data: dict) -> str:
    m, load, v = data["machine"], data["load"], data.get("versions") or {}
    parts = app_stacks(data)
    pg = v.get("postgres")
    if v.get("k6_image"):
        parts.append(f"k6 {v['k6_image'].rsplit(':', 1)[-1]}")
    return (f"Measured {data['made'][:16].replace('T', ' ')} UTC by `make rank` on {m['cores']} cores "
            f"(Linux {m['kernel']}; load average {m['loadavg_before'][0]:.2f} before, "
            f"{m['loadavg_after'][0]:.2f} after; {data['duration_s'] / 60:.0f} min). "
            f"k6 ab, {load['iterations']:,} requests per run, no keep-alive; /api/v1/ping/ then "
            f"/api/v1/healthz/ on the same fresh stack per level. Versions: "
            + "; ".join(parts + ([f"PostgreSQL {pg}"] if pg else [])) + ".")


def markdown(data: dict) -> str:
    lines = [f"# Which fix to pick: rank {data['rank_id']}", "", note(data), "",
             _md_table(header(data), ranking_rows(data)),
             f"Order: {data['rule']}. Target: healthz >= {data['target_ratio']} x ping with 0 errors.", ""]
    if data.get("stopped"):
        lines += [f"**Stopped early** ({data['stopped']['reason']}): {data['stopped']['error']}", ""]
    lines += ["## Where the time goes", "",
              "CPU per request of each container (ms, from its cgroup), ping against healthz at the same level. "
              "When the machine is CPU-bound, the ceiling ratio cannot exceed ping's total over healthz's total "
              "(the CPU-bound ratio): the rest of healthz's time is the DB query's CPU, in the app and in Postgres.",
              "", _md_table(["fix", "c", "ping: app db pgbouncer k6", "healthz: app db pgbouncer k6",
                             "CPU-bound ratio", "measured ratio"],
                            [[c["name"], f"{lv['vus']:,}", _cpu(lv["ping"]), _cpu(lv["healthz"]),
                              _num(cpu_bound_ratio(lv), ".2f"), _num(lv.get("ratio"), ".2f")]
                             for c in data["candidates"] for lv in c["levels"]
                             if lv.get("ping") and lv.get("healthz")])]
    lines += ["## Every run", "", _md_table(
        ["fix", "c", "endpoint", "req/s", "p50 ms", "p99 ms", "error %", "peak DB", "peak ports",
         "k6 own errors", "CPU ms/request (app db pgbouncer k6)", "k6 CPU share", "run"],
        [[c["name"], f"{lv['vus']:,}", e, _num(f["rps"]), _num(f["p50_ms"]), _num(f["p99_ms"]),
          _num(100 * f["error_rate"], ".2f"), _num(f["peak_db"]), _num(f["peak_ports"]),
          ", ".join(f"{k}: {n}" for k, n in f["k6_errors"].items()) or "0",
          _cpu(f),
          _num(f["k6_cpu_share"], ".2f"), f["run"] or f"failed: {f.get('error', '')[:80]}"]
         for c in data["candidates"] for lv in c["levels"] for e in ("ping", "healthz") if (f := lv.get(e))])]
    return "\n".join(lines) + "\n"


SERVICES = ("app", "db", "pgbouncer", "k6")


def _cpu(fig: dict) -> str:
    per = fig.get("cpu_ms_per_request") or {}
    return " ".join(_num(per.get(s), ".2f") for s in SERVICES)


def cpu_bound_ratio(level: dict) -> float | None:
    """Total CPU per ping request over total CPU per healthz request: the ratio's ceiling when CPU-bound."""
    ping = sum(((level.get("ping") or {}).get("cpu_ms_per_request") or {}).values())
    healthz = sum(((level.get("healthz") or {}).get("cpu_ms_per_request") or {}).values())
    return round(ping / healthz, 3) if ping and healthz else None


def _html_table(data: dict) -> str:
    import html

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header(data))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in ranking_rows(data))
    return (f"<p>{html.escape(note(data))}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>Order: {html.escape(data['rule'])}.</p>")


def chart(data: dict):
    """The fixes on one chart: ceiling ratio and healthz req/s against concurrency."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("ceiling ratio: healthz / ping req/s",
                                                        "/api/v1/healthz/ req/s"))
    for c in data["candidates"]:
        levels = [lv for lv in c["levels"] if lv.get("healthz")]
        xs = [lv["vus"] for lv in levels]
        fig.add_trace(go.Scatter(x=xs, y=[lv["ratio"] for lv in levels], name=c["name"], mode="lines+markers",
                                 legendgroup=c["name"]), row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=[lv["healthz"]["rps"] for lv in levels], name=c["name"],
                                 mode="lines+markers", legendgroup=c["name"], showlegend=False), row=1, col=2)
    fig.add_hline(y=data["target_ratio"], line_dash="dash", annotation_text="target", row=1, col=1)
    fig.update_xaxes(title_text="concurrent clients (ab -c)", type="log")
    fig.update_layout(height=420, margin=dict(l=60, r=20, t=60))
    return fig


# -- reading back: the README block, the diagnosis ----------------------------------
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
                      note(data), "", _md_table(header(data), ranking_rows(data)),
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
