"""Read k6's handleSummary JSON into the figures a run reports."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# k6's exit codes for a run that completed: 0, or 99 when thresholds were
# crossed (the expected outcome of the incident's variant). playbooks/load.yml
# judges k6 the same way.
COMPLETED_EXITS = (0, 99)


@dataclass
class LoadSummary:
    scenario: str
    requests: int
    rps: float
    error_rate: float
    status_counts: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    thresholds_passed: bool = True
    vus: int | None = None
    keepalive: bool | None = None
    p90_ms: float | None = None  # k6's p(90); with several generators, of their merged samples (k6_merge)
    avg_ms: float | None = None
    thresholds_crossed: list[str] = field(default_factory=list)  # "http_req_duration p(95)<2000", ...

    def as_dict(self) -> dict:
        return asdict(self)


LATENCY = "http_req_duration "  # how a crossed latency threshold is named in thresholds_crossed


def latency_crossed(crossed: list[str]) -> list[str]:
    """The latency thresholds among those crossed, as k6 writes them ("p(95)<2000")."""
    return [c.removeprefix(LATENCY) for c in crossed if c.startswith(LATENCY)]


def _values(metrics: dict, name: str) -> dict:
    return metrics.get(name, {}).get("values", {})


class Unreadable(ValueError):
    """k6's summary file is there, but it says nothing readable: empty, cut short, or not k6's."""


def parse(path: Path) -> LoadSummary:
    text = path.read_text(errors="replace")
    if not text.strip():
        raise Unreadable(f"{path.name} is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"{path.name} is cut short or damaged ({exc.msg} at character {exc.pos:,} of "
                         f"{len(text):,})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise Unreadable(f"{path.name} has no metrics: not a k6 summary")
    lab = data.get("lab", {})
    scenario = lab.get("scenario", "ab")
    metrics = data["metrics"]
    reqs = _values(metrics, f"http_reqs{{scenario:{scenario}}}")
    failed = _values(metrics, f"http_req_failed{{scenario:{scenario}}}")
    duration = _values(metrics, f"http_req_duration{{scenario:{scenario}}}")
    total = int(reqs.get("count", 0))
    statuses: dict[str, int] = {}
    for code in lab.get("tracked_status", []):
        n = int(_values(metrics, f"http_reqs{{scenario:{scenario},status:{code}}}").get("count", 0))
        if n:
            statuses[code] = n
    other = total - sum(statuses.values())
    if other > 0:
        statuses["other"] = other
    crossed = [f"{name.split('{')[0]} {expr}" for name, m in metrics.items()
               for expr, t in (m.get("thresholds") or {}).items() if not t.get("ok", True)]
    return LoadSummary(
        scenario=scenario,
        requests=total,
        rps=float(reqs.get("rate", 0.0)),
        error_rate=float(failed.get("rate", 0.0)),
        status_counts=statuses,
        p50_ms=duration.get("med"),
        p95_ms=duration.get("p(95)"),
        p99_ms=duration.get("p(99)"),
        max_ms=duration.get("max"),
        thresholds_passed=not crossed,
        thresholds_crossed=sorted(set(crossed)),
        vus=lab.get("vus"),
        keepalive=lab.get("keepalive"),
        p90_ms=duration.get("p(90)"),
        avg_ms=duration.get("avg"),
    )
