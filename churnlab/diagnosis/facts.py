"""Facts: what a run or a live system shows, reduced to the numbers the verdict reads.
Built from a run folder (any schema run_record reads), from a finished run's record, or from
evidence just sampled and the app's recent log."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from churnlab.core import run_record
from churnlab.evidence import app_errors, k6_summary, port_budget

__all__ = ["Facts", "facts_from_evidence", "facts_from_record", "facts_from_run", "facts_from_log", "loadgen_facts"]


@dataclass
class Facts:
    settings: dict = field(default_factory=dict)      # WORKER_CLASS, WORKERS, THREADS, CONN_MAX_AGE, DB_HOST, DB_PORT
    variant: str | None = None
    profile: str | None = None
    keepalive: bool | None = None
    requests: int | None = None
    failed: int | None = None
    errors: list[dict] = field(default_factory=list)  # [{kind, target, count}]
    port_range_size: int | None = None
    tcp_tw_reuse: int | None = None
    peak_ports_in_use: int | None = None
    peak_port_use_pct: float | None = None
    peak_time_wait: int | None = None
    peak_tw_by_target: dict[str, int] = field(default_factory=dict)
    peak_db_backends: int | None = None
    # idle connections in pg_stat_activity (a leak: churnlab.diagnosis.leak): the peak, the client
    # backends then, the first idle count sampled and the seconds from it to the peak
    peak_db_idle: int | None = None
    peak_db_idle_backends: int | None = None
    first_db_idle: int | None = None
    db_idle_rise_s: float | None = None
    # per sampled destination: its ESTABLISHED, TIME_WAIT and local ports when the range first ran
    # out (or at the peak of ports in use, when it never did)
    ports_at_full: dict[str, dict] = field(default_factory=dict)
    # per sampled destination, its ESTABLISHED sockets: (the first sample's, the peak, seconds between):
    # a leak seen from the app host alone (the read-only probe has no pg_stat_activity)
    established_rise: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    max_connections: int | None = None
    peak_pgbouncer_servers: int | None = None
    port_budget: list[port_budget.PortBudget] = field(default_factory=list)  # per sampled destination
    # the load generators (run.json's load.per_loadgen): what k6 itself met
    loadgens: int = 1
    loadgen_errors: dict[str, int] = field(default_factory=dict)  # k6's own errors by kind, every generator
    dropped_iterations: int = 0
    loadgen_port_range: str = ""
    loadgen_cpu_busy: dict[str, float] = field(default_factory=dict)  # generator: its cpu_busy, where measured
    loadgen_cpu_throttled: dict[str, float] = field(default_factory=dict)  # generator: its cpu_throttled
    loadgen_cpus: str = ""
    fault: dict | None = None  # run_record.Fault as a dict, when the run had FAULT=...
    p95_ms: float | None = None  # k6's p(95) of the run
    unjudged: list[str] = field(default_factory=list)  # what the verdict cannot judge, and why
    latency_crossed: list[str] = field(default_factory=list)  # k6's latency thresholds crossed ("p(95)<2000")


def loadgen_facts(facts: Facts, load: run_record.Load) -> Facts:
    """Facts of the generators, from run.json's load (old runs: none recorded, nothing found)."""
    facts.loadgens = load.loadgens
    facts.loadgen_port_range = load.loadgen_port_range
    facts.loadgen_cpus = load.loadgen_cpus
    for gen in load.per_loadgen:
        if gen.get("cpu_busy") is not None:
            facts.loadgen_cpu_busy[str(gen.get("name"))] = float(gen["cpu_busy"])
        if gen.get("cpu_throttled") is not None:
            facts.loadgen_cpu_throttled[str(gen.get("name"))] = float(gen["cpu_throttled"])
        for kind, n in (gen.get("k6_errors") or {}).items():
            facts.loadgen_errors[kind] = facts.loadgen_errors.get(kind, 0) + int(n)
        facts.dropped_iterations += int(gen.get("dropped_iterations") or 0)
    return facts


def facts_from_evidence(records: list[dict], facts: Facts) -> Facts:
    netns = [r for r in records if r.get("source") == "netns"]
    if netns:
        last = netns[-1]
        facts.port_range_size = last.get("port_range_size")
        facts.tcp_tw_reuse = last.get("tcp_tw_reuse")
        facts.peak_ports_in_use = max(r["local_ports_in_use"] for r in netns)
        facts.peak_port_use_pct = max(r["port_use_pct"] for r in netns)
        facts.peak_time_wait = max(r["time_wait"] for r in netns)
        for name in last.get("targets", {}):
            facts.peak_tw_by_target[name] = max(r["targets"].get(name, {}).get("time_wait", 0) for r in netns)
        full = next((r for r in netns if r["local_ports_in_use"] >= (r.get("port_range_size") or 0) > 0), None)
        full = full or max(netns, key=lambda r: r["local_ports_in_use"])
        facts.ports_at_full = {name: {k: t.get(k) for k in ("established", "time_wait", "local_ports")}
                               for name, t in (full.get("targets") or {}).items()}
        for name in last.get("targets", {}):
            seen = [(float(r.get("ts") or 0), r["targets"][name].get("established") or 0) for r in netns
                    if name in (r.get("targets") or {})]
            peak = max(seen, key=lambda x: x[1])
            facts.established_rise[name] = (seen[0][1], peak[1], round(peak[0] - seen[0][0], 1))
    pg = [r for r in records if r.get("source") == "postgres"]
    if pg:
        facts.peak_db_backends = max(r["client_backends"] for r in pg)
        idle = [(r["ts"], (r.get("by_state") or {}).get("idle", 0), r["client_backends"]) for r in pg
                if isinstance(r.get("by_state"), dict)]
        if idle:
            peak = max(idle, key=lambda x: x[1])
            first = next(x for x in idle if x[1] > 0 or x is peak)
            facts.peak_db_idle, facts.peak_db_idle_backends = peak[1], peak[2]
            facts.first_db_idle, facts.db_idle_rise_s = first[1], round(peak[0] - first[0], 1)
        facts.max_connections = pg[-1].get("max_connections")
    bouncer = [r for r in records if r.get("source") == "pgbouncer"]
    if bouncer:
        facts.peak_pgbouncer_servers = max(r["server_connections"] for r in bouncer)
    facts.port_budget = port_budget.compute(records)
    return facts


def facts_from_record(record: run_record.RunRecord, evidence: list[dict]) -> Facts:
    """Facts of a finished run: its record and its evidence records."""
    summary = record.summary or {}
    statuses = summary.get("status_counts", {})
    facts = Facts(
        settings=record.app_settings,
        variant=record.selection.variant,
        profile=record.selection.profile,
        keepalive=record.load.keepalive,
        requests=summary.get("requests"),
        failed=sum(n for code, n in statuses.items() if code != "200") if record.summary is not None else None,
        p95_ms=summary.get("p95_ms"),
        latency_crossed=k6_summary.latency_crossed(summary.get("thresholds_crossed") or []),
        errors=record.app_errors,
        fault=asdict(record.fault) if record.fault else None,
    )
    if record.summary is None:
        why = [g["summary_problem"] for g in record.load.per_loadgen if g.get("summary_problem")]
        facts.unjudged.append("the requests' outcome (how many, how many failed, how fast): k6's figures are "
                              "missing" + (f" ({'; '.join(why)})" if why else f" (the run {record.status})"))
    facts_from_evidence(evidence, facts)
    loadgen_facts(facts, record.load)
    if facts.max_connections is None:
        facts.max_connections = record.db.max_connections
    return facts


def facts_from_run(run_dir: Path) -> Facts:
    """Facts of a run folder, of any schema run_record reads."""
    return facts_from_record(run_record.read(run_dir), run_record.read_evidence(run_dir / run_record.EVIDENCE))


def facts_from_log(evidence: list[dict], log_lines: list[str], settings: dict,
                   variant: str | None, profile: str | None) -> Facts:
    """Facts of a live system: evidence just sampled and the app's recent log."""
    counts = app_errors.count(log_lines)
    facts = Facts(settings=settings, variant=variant, profile=profile, errors=app_errors.as_records(counts),
                  failed=sum(counts.values()))
    return facts_from_evidence(evidence + app_errors.per_second(log_lines), facts)
