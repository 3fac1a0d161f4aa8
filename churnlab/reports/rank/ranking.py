"""One run's figures and the ranking rule on them (order_key): error-free first, then holds
under repro, then the higher ceiling ratio, then the lower error rate."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.evidence import k6_merge
from churnlab.reports.rank.constants import GENERATOR_SHARE, TARGET_RATIO


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
