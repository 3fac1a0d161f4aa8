"""One load run: k6 in a container on the lab network, plus what the app logged.

Writes results/<run-id>/: k6-summary.json (k6's handleSummary), run.json
(parameters, versions, summary, errors by kind, verdict), app.log (the app's
log during the run), evidence.jsonl (sockets, Postgres, PgBouncer and app
errors, once a second) and k6-metrics.csv.gz (every request, for timelines).
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from churnlab import app_errors, diagnosis, versions
from churnlab.compose_stack import Stack
from churnlab.errors import LabError
from churnlab.evidence.recorder import EvidenceRecorder
from churnlab.k6_summary import LoadSummary, parse
from churnlab.paths import RESULTS_DIR
from churnlab.terminal import console

SCENARIOS = ("ab", "ramp")
K6_UID = 10002  # the k6 image's user, used when the caller is root
K6_THRESHOLDS_CROSSED = 99


@dataclass(frozen=True)
class LoadParams:
    scenario: str = "ab"
    vus: int = 500
    iterations: int = 10000
    keepalive: bool = False
    endpoint: str = "/api/v1/healthz/"
    sample_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise LabError(f"unknown SCENARIO {self.scenario!r}; valid scenarios: {', '.join(SCENARIOS)}")
        if self.vus < 1 or self.iterations < 1:
            raise LabError("VUS and ITERATIONS must be >= 1")
        if self.scenario == "ab" and self.iterations < self.vus:
            raise LabError(f"ITERATIONS ({self.iterations}) must be >= VUS ({self.vus}) for the ab scenario")
        if not 0.1 <= self.sample_interval <= 60:
            raise LabError(f"SAMPLE_INTERVAL must be between 0.1 and 60 seconds, got {self.sample_interval}")
        if not self.endpoint.startswith("/"):
            raise LabError(f"ENDPOINT must be a path starting with '/', got {self.endpoint!r}")


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    summary: LoadSummary
    errors: list[dict] = field(default_factory=list)
    peak_db_connections: int | None = None
    verdict: diagnosis.Verdict | None = None
    settings: dict = field(default_factory=dict)
    selection: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def error_count(self, kind_contains: str) -> int:
        return sum(e["count"] for e in self.errors if kind_contains in e["kind"])


def new_run_id(stack: Stack, params: LoadParams, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    sel = stack.selection
    keep = "-ka" if params.keepalive else ""
    return f"{now:%Y%m%dT%H%M%SZ}-{sel.variant}-{sel.profile}-{params.scenario}-c{params.vus}{keep}"


def _k6_env(stack: Stack, params: LoadParams, run_id: str) -> list[str]:
    settings = stack.app_settings()
    services = stack.config()["services"]
    images = {f"RUN_{name.upper()}_IMAGE": svc.get("image", "") for name, svc in services.items()
              if name in ("app", "db", "pgbouncer")}
    values = {
        "TARGET": "http://app:8000", "ENDPOINT": params.endpoint, "SCENARIO": params.scenario,
        "VUS": params.vus, "ITERATIONS": params.iterations, "KEEPALIVE": int(params.keepalive),
        "RESULTS_DIR": "/results", "RUN_ID": run_id,
        "RUN_VARIANT": stack.selection.variant, "RUN_PROFILE": stack.selection.profile,
        **{f"RUN_{k}": settings.get(k, "") for k in ("WORKER_CLASS", "WORKERS", "THREADS", "CONN_MAX_AGE",
                                                   "DB_HOST", "DB_PORT")},
        **images,
    }
    argv: list[str] = []
    for key, value in values.items():
        argv += ["-e", f"{key}={value}"]
    return argv


def run(stack: Stack, params: LoadParams, run_id: str | None = None) -> RunResult:
    run_id = run_id or new_run_id(stack, params)
    run_dir = RESULTS_DIR / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    uid, gid = (os.getuid(), os.getgid()) if os.getuid() != 0 else (K6_UID, K6_UID)
    if os.getuid() == 0:
        os.chown(run_dir, uid, gid)
    env = {"RUN_DIR": str(run_dir), "LAB_UID": str(uid), "LAB_GID": str(gid)}
    started = datetime.now(timezone.utc)
    what = (f"{params.scenario}: {params.vus} VUs"
            + (f" x {params.iterations} requests" if params.scenario == "ab" else "")
            + (", keep-alive" if params.keepalive else ", no keep-alive"))
    with EvidenceRecorder(stack, run_dir / "evidence.jsonl", interval=params.sample_interval) as recorder, \
            console.status(f"k6 {what} on {stack.selection.variant} "
                                                           f"+ {stack.selection.profile}"):
        with (run_dir / "k6.log").open("w") as k6_log:
            proc = subprocess.run(
                stack.argv("--profile", "load", "run", "--rm", "--no-deps", *_k6_env(stack, params, run_id),
                           "k6", "run", "--quiet", "--no-usage-report",
                           "--out", "csv=/results/k6-metrics.csv.gz", "/scripts/scenarios.js"),
                env={**stack.env(), **env}, stdout=k6_log, stderr=subprocess.STDOUT)
    finished = datetime.now(timezone.utc)
    if os.getuid() == 0:
        for path in [run_dir, *run_dir.iterdir()]:
            os.chown(path, 0, 0)
    summary_file = run_dir / "k6-summary.json"
    if proc.returncode not in (0, K6_THRESHOLDS_CROSSED) or not summary_file.exists():
        tail = (run_dir / "k6.log").read_text(errors="replace").splitlines()[-15:]
        raise LabError(f"k6 failed (exit {proc.returncode}); see {run_dir / 'k6.log'}:\n" + "\n".join(tail))

    logs = stack.run("logs", "--no-color", "--no-log-prefix",
                     "--since", started.isoformat(), "--until", (finished + timedelta(seconds=2)).isoformat(),
                     "app", capture=True, check=False).stdout
    (run_dir / "app.log").write_text(logs)
    lines = logs.splitlines()
    errors_per_second = app_errors.per_second(lines)
    with (run_dir / "evidence.jsonl").open("a") as evidence:
        for record in errors_per_second:
            evidence.write(json.dumps(record) + "\n")
    errors = app_errors.as_records(app_errors.count(lines))
    summary = parse(summary_file)
    settings = stack.app_settings()
    result = RunResult(run_id=run_id, run_dir=run_dir, summary=summary, errors=errors,
                       peak_db_connections=recorder.peak("postgres", "client_backends"), settings=settings,
                       selection=stack.selection.as_dict(), params=asdict(params))
    record = {
        "run_id": run_id,
        "started": started.isoformat(), "finished": finished.isoformat(),
        "selection": result.selection, "app_settings": settings, "load": result.params,
        "summary": summary.as_dict(), "app_errors": errors,
        "db": {"peak_client_backends": recorder.peak("postgres", "client_backends"),
               "max_connections": recorder.peak("postgres", "max_connections")},
        "evidence": {"samples": len(recorder.records), "targets": recorder.targets,
                     "peak_time_wait": recorder.peak("netns", "time_wait"),
                     "peak_port_use_pct": recorder.peak("netns", "port_use_pct"),
                     "peak_pgbouncer_server_connections": recorder.peak("pgbouncer", "server_connections"),
                     "sampler_errors": recorder.errors},
        "versions": versions.collect(stack, stack.running_services()),
    }
    result.verdict = diagnosis.diagnose(diagnosis.facts_from_record(record, recorder.records + errors_per_second))
    record["verdict"] = result.verdict.as_dict()
    (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return result
