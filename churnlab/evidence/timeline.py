"""Per-second series of one run, on one time axis (seconds since the load began):
requests/s and errors/s from k6's per-request CSV, TIME_WAIT and local-port use
from the app's namespace, DB connections from Postgres."""
from __future__ import annotations

import csv
import gzip
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from churnlab.core import run_record
from churnlab.core.run_record import read_evidence
from churnlab.evidence.k6_merge import METRICS, percentile


@dataclass
class Timeline:
    t0: float
    rps: dict[int, int] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    time_wait: dict[float, int] = field(default_factory=dict)
    port_use_pct: dict[float, float] = field(default_factory=dict)
    db_connections: dict[float, int] = field(default_factory=dict)
    target: str = ""
    fault: tuple[float, float] | None = None  # FAULT: (start, end) in seconds since the load began
    fault_kind: str = ""
    fault_setting: str = ""  # a degradation's (run_record.degradation_setting): "0.05 CPU", "30% of packets dropped"
    p95_ms: dict[int, float] = field(default_factory=dict)  # each second's requests' p95 latency


K6_CSV = METRICS  # k6's per-request CSV (the merged one, with several generators)


def k6_seconds(run_dir: Path, durations: dict[int, list[float]] | None = None
               ) -> tuple[Counter[int], Counter[int]]:
    """Requests and non-200 answers per second (UTC epoch) of a run's load; with
    `durations`, also each request's http_req_duration (ms) by second, in the same pass."""
    return _k6_seconds(run_dir / K6_CSV, durations)


def _k6_seconds(path: Path, durations: dict[int, list[float]] | None = None
                ) -> tuple[Counter[int], Counter[int]]:
    reqs: Counter[int] = Counter()
    failed: Counter[int] = Counter()
    if not path.exists():
        return reqs, failed
    try:
        with gzip.open(path, "rt", newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("scenario"):
                    continue  # setup()'s smoke request has no scenario tag
                name = row.get("metric_name")
                if name == "http_reqs":
                    second = int(float(row["timestamp"]))
                    reqs[second] += 1
                    if row.get("status") != "200":
                        failed[second] += 1
                elif name == "http_req_duration" and durations is not None:
                    durations.setdefault(int(float(row["timestamp"])), []).append(float(row["metric_value"]))
    except (EOFError, OSError, zlib.error, ValueError, KeyError):
        pass  # k6 stopped mid-write (Ctrl-C): the rows read so far are the load's
    return reqs, failed


def p95(values: list[float]) -> float | None:
    """The 95th percentile as k6 computes it (the run's own p95 is k6's), None without values."""
    return percentile(sorted(values), 0.95)


def load(run_dir: Path) -> Timeline:
    record = run_record.read(run_dir)
    durations: dict[int, list[float]] = {}
    reqs, failed = _k6_seconds(run_dir / K6_CSV, durations)
    evidence = read_evidence(run_dir / "evidence.jsonl")
    starts = [min(reqs)] if reqs else []
    starts += [r["ts"] for r in evidence if r.get("source") in ("netns", "postgres")][:1]
    t0 = min(starts) if starts else 0.0
    targets = record.evidence.targets
    tl = Timeline(t0=t0, target=targets[0] if targets else "")
    for second in sorted(reqs):
        tl.rps[second - int(t0)] = reqs[second]
        tl.errors[second - int(t0)] = failed.get(second, 0)
    for second, values in durations.items():
        tl.p95_ms[second - int(t0)] = p95(values)
    for r in evidence:
        t = round(r["ts"] - t0, 1)
        if r.get("source") == "netns":
            tl.time_wait[t] = r.get("targets", {}).get(tl.target, {}).get("time_wait", r.get("time_wait", 0))
            tl.port_use_pct[t] = r.get("port_use_pct") or 0.0
        elif r.get("source") == "postgres":
            tl.db_connections[t] = r["client_backends"]
    fault = record.fault
    if fault and fault.started:  # an undo that failed leaves ended empty: the window runs to the end
        end = datetime.fromisoformat(fault.ended).timestamp() if fault.ended else t0 + max(tl.rps, default=0)
        tl.fault = (round(datetime.fromisoformat(fault.started).timestamp() - t0, 1), round(end - t0, 1))
        tl.fault_kind = fault.kind
        tl.fault_setting = run_record.degradation_setting(fault.kind, fault.db_cpus, fault.loss_pct, fault.delay_ms)
    return tl
