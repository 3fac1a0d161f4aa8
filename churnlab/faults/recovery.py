"""The recovery after a fault, read from k6's per-request CSV: did the last seconds of the load
all answer 200, and what failed during and after the fault?"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from churnlab.core import run_record
from churnlab.evidence import timeline
from churnlab.evidence.timeline import p95
from churnlab.faults.plan import LAST_SECONDS, SLOW_MS


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def before_and_during(result: run_record.Recovery, durations: dict[int, list[float]], db: list[tuple[float, int]],
                      start: float, end: float, app_db: list[tuple[float, int]] = ()) -> None:
    """p95 latency and peak DB connections before the fault (as many seconds as it lasted, so the load's
    first seconds count only when it began early) and during it, on
    `result`: what a degradation did. `durations`: request ms by whole second; `db`: (ts, Postgres' client
    backends); `app_db`: (ts, the app's established connections toward its DB host)."""
    first_second, last_second = int(start), int(end)
    since = first_second - max(1, last_second - first_second + 1)  # as many seconds before it as it lasted
    result.p95_ms_before = p95([ms for s, values in durations.items() if since <= s < first_second
                                for ms in values])
    result.p95_ms_during = p95([ms for s, values in durations.items() if first_second <= s <= last_second
                                for ms in values])
    result.peak_db_before, result.peak_db_during = _peaks(db, start, end)
    result.app_db_before, result.app_db_during = _peaks(app_db, start, end)


def _peaks(series, start: float, end: float) -> tuple[int | None, int | None]:
    """The highest count in as many seconds before the fault as it lasted, and during it."""
    before = max((n for ts, n in series if start - (end - start) <= ts < start), default=None)
    return before, max((n for ts, n in series if start <= ts <= end), default=None)


def app_connections(samples: list[dict]) -> list[tuple[float, int]]:
    """(ts, established connections) of the app toward its DB host: the netns sampler's first target."""
    netns = [r for r in samples if r.get("source") == "netns" and r.get("targets")]
    if not netns:
        return []
    target = next(iter(netns[0]["targets"]))
    return [(r["ts"], int(r["targets"][target]["established"])) for r in netns
            if isinstance(r["targets"].get(target), dict) and r["targets"][target].get("established") is not None]


def recovery(run_dir: Path, fault: run_record.Fault, left_broken: list[str],
             last_seconds: int = LAST_SECONDS) -> run_record.Recovery:
    durations: dict[int, list[float]] = {}
    reqs, failed = timeline.k6_seconds(run_dir, durations)  # one pass over the CSV
    result = run_record.Recovery(last_seconds=last_seconds, left_broken=list(left_broken))
    start, end = _epoch(fault.started), _epoch(fault.ended)
    if not reqs or start is None or end is None:
        result.recovered = False if left_broken else None
        return result
    samples = run_record.read_evidence(run_dir / run_record.EVIDENCE)
    db = [(r["ts"], int(r["client_backends"])) for r in samples
          if r.get("source") == "postgres" and r.get("client_backends") is not None]
    before_and_during(result, durations, db, start, end, app_connections(samples))
    first_second, last_second = int(start), int(end)
    result.failed_during = sum(n for s, n in failed.items() if first_second <= s <= last_second)
    result.failed_after = sum(n for s, n in failed.items() if s > last_second)
    after = [s for s, n in failed.items() if n and s > last_second]
    result.last_failure_after_end_s = float(max(after) + 1 - end) if after else 0.0
    slow = [ms for s, values in durations.items() if first_second <= s for ms in values if ms > SLOW_MS]
    result.slow_during = len(slow)
    result.max_ms_during = max((ms for s, values in durations.items() if first_second <= s for ms in values),
                               default=None)
    window = range(max(reqs) - last_seconds + 1, max(reqs) + 1)
    result.last_seconds_requests = sum(reqs.get(s, 0) for s in window)
    result.last_seconds_failed = sum(failed.get(s, 0) for s in window)
    if window.start <= last_second:  # the load ended before the fault had been over for `last_seconds`
        result.recovered = None if not left_broken else False
        return result
    result.recovered = (result.last_seconds_requests > 0 and result.last_seconds_failed == 0
                        and not left_broken)
    return result
