"""run.json: the record of one load run, for compose runs and host runs alike.

One type (RunRecord), one writer (write), one reader (read), one run-id
function (run_id), and one way to write evidence.jsonl (write_evidence: every
source merged in time order). Folders written before run.json had a
schema_version (the keys loadrun and hostrun wrote until then) are upgraded
on read. Standard library only.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path

from churnlab.core import files

SCHEMA_VERSION = 2
FINISHED = "finished"        # k6 ran to its end (thresholds crossed or not)
FAILED = "failed"            # k6 or the lab failed; what is known is kept
INTERRUPTED = "interrupted"  # Ctrl-C during the load
STATUSES = (FINISHED, FAILED, INTERRUPTED)
RUN_JSON = "run.json"
EVIDENCE = "evidence.jsonl"
DASHBOARD = "k6-dashboard.html"  # k6's web dashboard, exported as one self-contained page


def run_id(started: datetime, variant: str, profile: str, scenario: str, vus: int, keepalive: bool) -> str:
    """The name of a run's folder: when, what ran, what load."""
    keep = "-ka" if keepalive else ""
    return f"{started:%Y%m%dT%H%M%SZ}-{variant}-{profile}-{scenario}-c{int(vus)}{keep}"


@dataclass
class Selection:
    variant: str | None = None
    profile: str | None = None
    knobs: dict = field(default_factory=dict)
    via: str = "compose"              # compose | ansible
    front: str = "none"               # none | https (nginx terminating TLS before gunicorn)
    front_keepalive: int | None = None  # https: nginx's idle upstream connections per worker (0 = none)
    hosts: dict = field(default_factory=dict)  # ansible: app, db, loadgen
    observe: bool = False             # Prometheus and the alert rules ran beside it (OBSERVE=1)


@dataclass
class Load:
    """The load a run put on the app (the defaults are the incident's ab -n 10000 -c 500)."""

    scenario: str = "ab"
    vus: int = 500
    iterations: int = 10000
    keepalive: bool = False
    endpoint: str = "/api/v1/healthz/"
    sample_interval: float = 1.0
    target: str = ""                  # the base URL k6 asked (https://front:8443 behind the HTTPS front)
    loadgens: int = 1                 # k6 processes sharing the run by execution segments (LOADGENS)
    loadgen_port_range: str = ""      # the generators' own ip_local_port_range ("" = the lab's default)
    loadgen_cpus: str = ""            # the CPUs each generator may use (LOADGEN_CPUS; "" = no limit)
    per_loadgen: list[dict] = field(default_factory=list)  # churnlab.evidence.k6_merge.Generator.as_dict(), each


@dataclass
class Db:
    peak_client_backends: int | None = None
    max_connections: int | None = None
    samples: int = 0


@dataclass
class Evidence:
    samples: int = 0
    targets: list[str] = field(default_factory=list)
    peak_time_wait: int | None = None
    peak_port_use_pct: float | None = None
    peak_pgbouncer_server_connections: int | None = None
    port_budget: list[dict] = field(default_factory=list)  # evidence.port_budget.PortBudget.as_dict(), per target


# Faults mid-load (churnlab/faults/plan.py)
@dataclass
class Recovery:
    """After a fault: did the app answer again without a restart, and is anything left broken?"""

    recovered: bool | None = None      # last_seconds all answered 200 and nothing is left broken
    last_seconds: int = 0              # how many final seconds of the load were checked
    last_seconds_requests: int = 0
    last_seconds_failed: int = 0
    failed_during: int = 0             # non-200 answers from the fault's start to its end
    failed_after: int = 0              # non-200 answers after the fault ended
    last_failure_after_end_s: float | None = None  # the last non-200, seconds after the fault ended
    slow_during: int = 0               # requests that took over a second, fault window included
    max_ms_during: float | None = None
    left_broken: list[str] = field(default_factory=list)  # containers/routes not back as before
    # before the fault (from the load's start) and during it: what a degradation did
    p95_ms_before: float | None = None
    p95_ms_during: float | None = None
    peak_db_before: int | None = None   # Postgres' client backends, the sampler's peak
    peak_db_during: int | None = None
    app_db_before: int | None = None    # the app's established connections toward its DB host, peak (the app's
    app_db_during: int | None = None    # side: a DB starved of CPU is slow to show its own in pg_stat_activity)


@dataclass
class Fault:
    """A fault injected during the load (FAULT=...): what was planned, what happened."""

    kind: str = ""
    planned_at_s: float = 0.0          # FAULT_AT: seconds after the load started
    planned_for_s: float = 0.0         # FAULT_FOR
    target: str = ""                   # what was hit: a service, or the app's route toward one
    load_started: str | None = None    # the timer's zero (ISO, UTC)
    started: str | None = None         # when it was triggered (ISO, UTC); None: never put in place
    ended: str | None = None           # when it was undone (ISO, UTC)
    errors: list[str] = field(default_factory=list)  # injecting or undoing failed
    recovery: Recovery | None = None
    db_cpus: float | None = None       # db-slow: the CPUs the database kept (FAULT_DB_CPUS)
    delay_ms: int | None = None        # db-slow: netem delay on the database's packets (FAULT_DELAY_MS)
    loss_pct: float | None = None      # db-lossy: percent of the app's packets toward the DB dropped


def degradation_setting(kind: str, db_cpus: float | None = None, loss_pct: float | None = None,
                        delay_ms: int | None = None) -> str:
    """A degradation's own setting in words ('' for the other kinds): '0.05 CPU', '0.05 CPU, +20 ms',
    '30% of packets dropped'. The plan's (the load's first line) and the record's (the report's label)."""
    if kind == "db-slow" and db_cpus:
        return f"{db_cpus:g} CPU" + (f", +{delay_ms} ms" if delay_ms else "")
    if kind == "db-lossy" and loss_pct:
        return f"{loss_pct:g}% of packets dropped"
    return ""


def fault_from_dict(data: dict | None) -> Fault | None:
    if not data:
        return None
    fault = _part(Fault, data)
    fault.recovery = _part(Recovery, data["recovery"]) if data.get("recovery") else None
    return fault


@dataclass
class RunRecord:
    run_id: str
    status: str = FINISHED
    started: str | None = None
    finished: str | None = None
    selection: Selection = field(default_factory=Selection)
    app_settings: dict = field(default_factory=dict)
    load: Load = field(default_factory=Load)
    summary: dict | None = None        # churnlab.evidence.k6_summary.LoadSummary.as_dict(); None when k6 left none
    app_errors: list[dict] = field(default_factory=list)  # [{kind, target, count}]
    db: Db = field(default_factory=Db)
    evidence: Evidence = field(default_factory=Evidence)
    versions: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)     # what failed on the way (sampler, versions, k6)
    verdict: dict | None = None        # churnlab.diagnosis.verdict.Verdict.as_dict()
    overhead: dict | None = None       # the lab's own CPU during the load (churnlab.live.overhead.figures); None before
    schema_version: int = SCHEMA_VERSION
    fault: Fault | None = None         # FAULT=...: absent in runs without one (and in older folders)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"run status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def _part(cls, data: dict | None):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (data or {}).items() if k in names})


def from_dict(data: dict) -> RunRecord:
    """A RunRecord from run.json's content, upgrading the unversioned form."""
    data = dict(data)
    version = data.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ValueError(f"run.json has schema_version {version}; this churnlab reads up to {SCHEMA_VERSION}")
    if version == 1:
        # Before schema 2: only finished runs were written; sampler errors sat in
        # evidence.sampler_errors and the db probe's in db.probe_error.
        problems = list(data.get("evidence", {}).get("sampler_errors") or [])
        if data.get("db", {}).get("probe_error"):
            problems.append(f"postgres sampler: {data['db']['probe_error']}")
        data.update(status=FINISHED, problems=problems, schema_version=SCHEMA_VERSION)
    return RunRecord(
        run_id=data["run_id"], status=data.get("status", FINISHED),
        started=data.get("started"), finished=data.get("finished"),
        selection=_part(Selection, data.get("selection")), app_settings=data.get("app_settings") or {},
        load=_part(Load, data.get("load")), summary=data.get("summary"),
        app_errors=data.get("app_errors") or [], db=_part(Db, data.get("db")),
        evidence=_part(Evidence, data.get("evidence")), versions=data.get("versions") or {},
        problems=data.get("problems") or [], verdict=data.get("verdict"), overhead=data.get("overhead"),
        schema_version=SCHEMA_VERSION, fault=fault_from_dict(data.get("fault")))


def write(run_dir: Path, record: RunRecord) -> Path:
    return files.write_atomic(run_dir / RUN_JSON, json.dumps(record.as_dict(), indent=2) + "\n")


def read(run_dir: Path) -> RunRecord:
    return from_dict(json.loads((run_dir / RUN_JSON).read_text()))


# -- evidence.jsonl ---------------------------------------------------------
def read_evidence(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "ts" in record:
            records.append(record)
    return records


def write_evidence(path: Path, *sources: list[dict]) -> list[dict]:
    """evidence.jsonl from every source, merged in time order (stable for equal ts)."""
    records = sorted((r for source in sources for r in source), key=lambda r: float(r["ts"]))
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def peak(records: list[dict], source: str, key: str) -> int | float | None:
    return max((r[key] for r in records if r.get("source") == source and r.get(key) is not None), default=None)
