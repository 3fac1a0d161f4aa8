"""One load run: k6 in a container on the lab network, plus what the app logged.

Writes results/<run-id>/: k6-summary.json (k6's handleSummary), run.json
(churnlab.core.run_record: status, parameters, versions, summary, errors by kind,
problems, verdict), app.log (the app's log during the run), evidence.jsonl
(sockets, Postgres, PgBouncer and app errors, once a second, in time order),
k6-metrics.csv.gz (every request, for timelines) and k6-dashboard.html (k6's
web dashboard, self-contained, for a browser offline). run.json is written
even when k6 fails or the run is interrupted.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from churnlab import diagnosis, faults
from churnlab.compose import cpu_meter, versions
from churnlab.compose.recorder import EvidenceRecorder
from churnlab.compose.stack import Stack
from churnlab.core import bounds, files, interrupts, run_record
from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.paths import RESULTS_DIR
from churnlab.evidence import k6_merge
from churnlab.evidence.k6_summary import COMPLETED_EXITS, LoadSummary
from churnlab.live import panel
from churnlab.load import generators as k6
from churnlab.runs import assemble

SCENARIOS = ("ab", "ramp")
INTERRUPTED_EXITS = (130, -2)  # 128 + SIGINT from `docker compose run`; -SIGINT if it died of it


@dataclass
class LoadParams(run_record.Load):
    """A load asked for: the record's Load, checked before anything starts."""

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
        bounds.whole("LOADGENS", self.loadgens)
        if self.vus < self.loadgens or self.iterations < self.loadgens:
            raise LabError(f"VUS ({self.vus}) and ITERATIONS ({self.iterations}) must be >= LOADGENS "
                           f"({self.loadgens}): each generator takes a segment of both")
        if self.loadgen_port_range:
            low, high = bounds.port_range("LOADGEN_PORT_RANGE", self.loadgen_port_range)
            self.loadgen_port_range = f"{low} {high}"
        if self.loadgen_cpus:
            self.loadgen_cpus = f"{bounds.number('LOADGEN_CPUS', self.loadgen_cpus):g}"


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
    record: run_record.RunRecord | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds by compose service during the load
    cpu_wall_s: float | None = None                          # the seconds they were measured over

    def error_count(self, kind_contains: str) -> int:
        return sum(e["count"] for e in self.errors if kind_contains in e["kind"])


def new_run_id(stack: Stack, params: LoadParams, now: datetime | None = None) -> str:
    sel = stack.selection
    return run_record.run_id(now or datetime.now(timezone.utc), sel.variant, sel.profile, params.scenario,
                             params.vus, params.keepalive) + (f"-{stack.front}" if stack.front != "none" else "")


def run(stack: Stack, params: LoadParams, run_id: str | None = None, fault: faults.Plan | None = None) -> RunResult:
    """Run k6 and record it. run.json is written whatever happens: finished,
    failed (LabError raised after writing) or interrupted (KeyboardInterrupt
    re-raised after writing); no k6 container is left behind. With a fault
    (churnlab.faults.plan), it runs on its timer during the load and is always undone."""
    fault_timer = faults.timer(stack, fault)  # faults: a no-op without FAULT; checked before the folder exists
    if fault is not None:
        fault_timer.offset_s = k6.start_lead(params.loadgens)  # FAULT_AT counts from their shared start
    started = datetime.now(timezone.utc)
    run_id = run_id or new_run_id(stack, params, started) + (f"-{fault.kind}" if fault else "")
    run_dir = RESULTS_DIR / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    uid, gid = (os.getuid(), os.getgid()) if os.getuid() != 0 else (k6.K6_UID, k6.K6_UID)
    files.chown_if_root([run_dir], uid, gid)
    env = {"RUN_DIR": str(run_dir), "LAB_UID": str(uid), "LAB_GID": str(gid)}
    env["LOADGEN_PORT_RANGE"] = params.loadgen_port_range  # checked; empty: compose's default
    env["LOADGEN_CPUS"] = params.loadgen_cpus  # checked; empty: no limit
    what = (f"{params.scenario}: {params.vus} VUs"
            + (f" x {params.iterations} requests" if params.scenario == "ab" else "")
            + (", keep-alive" if params.keepalive else ", no keep-alive")
            + (f", {params.loadgens} generators" if params.loadgens > 1 else ""))
    generators: list[k6.K6Process] = []
    codes: dict[str, int] = {}
    # Every lab container's CPU during the load: the generators' own (short of it, they
    # measure themselves) and, for the rank, where the time went (RunResult.cpu_s).
    meter = cpu_meter.CpuMeter()
    recorder = EvidenceRecorder(stack, run_dir / run_record.EVIDENCE, interval=params.sample_interval)
    # The live panel (churnlab.live.panel): fed by the recorder and by k6's JSON lines (watch.k6_args()).
    watch = panel.Watch(stack, params, recorder, run_dir, f"k6 {what} on {stack.selection.variant} + "
                        f"{stack.selection.profile}")
    status, problems = run_record.FAILED, []
    if fault:
        setting = faults.describe(fault)
        what += f", FAULT={fault.kind}{f' ({setting})' if setting else ''} at {fault.at} s for {fault.duration} s"
    with interrupts.watched() as ctrl_c:  # a Ctrl-C is ours too, even where SIGINT came in ignored
        try:
            with recorder, watch, fault_timer, meter:
                # START_AT: from now, the samplers up
                generators = k6.generators(stack, params, run_id, run_dir, watch.k6_args(), faults.k6_args(fault))
                codes = dict(zip((g.label for g in generators),
                                 k6.run_generators(generators, {**stack.env(), **env}), strict=True))
            if ctrl_c.arrived:  # noted while the fault was undone, or k6 died of it first (any exit code)
                raise KeyboardInterrupt
            if all(c in COMPLETED_EXITS for c in codes.values()) and \
                    all((g.folder / k6_merge.SUMMARY).exists() for g in generators):
                status = run_record.FINISHED
            elif any(c in INTERRUPTED_EXITS for c in codes.values()):  # k6 alone got a Ctrl-C
                raise KeyboardInterrupt
            else:
                for gen in [g for g in generators if codes[g.label] not in COMPLETED_EXITS] or generators:
                    who = f"k6 on loadgen {gen.label}" if len(generators) > 1 else "k6"
                    problems.append(f"{who} failed (exit {codes[gen.label]}): " + " | ".join(k6.log_tail([gen], 3)))
        except KeyboardInterrupt:
            status = run_record.INTERRUPTED
            problems.append("interrupted (Ctrl-C) during the load")
            raise
        except Exception as exc:
            problems.append(f"the load failed: {exc}")
            raise
        finally:
            for gen in generators:
                k6.remove_container(gen.name)
            result = _record(stack, params, run_id, run_dir, started, status,
                             problems + recorder.errors + watch.problems, codes,
                             {g.label: g.segment for g in generators}, overhead=watch.overhead,
                             fault_timer=fault_timer, cpu=k6.cpu(meter, generators, params))
            result.cpu_s, result.cpu_wall_s = meter.by_service(), round(meter.wall_seconds, 1)
            if status != run_record.FINISHED:
                console.print(f"[yellow]run recorded as {status}:[/] {run_dir / run_record.RUN_JSON}")
    if status == run_record.FINISHED and result.record.status == run_record.FAILED:  # no figures to show
        missing = [g["summary_problem"] for g in result.record.load.per_loadgen if g.get("summary_problem")]
        raise LabError(f"k6 ran to its end, but its summary gave no figures ({'; '.join(missing)}); "
                       f"the run is recorded as failed in {run_dir / 'run.json'}")
    if status == run_record.FAILED:
        logs = ", ".join(str(g.folder / k6_merge.LOG) for g in generators)
        raise LabError(f"k6 failed; see {logs} and {run_dir / 'run.json'}:\n"
                       + "\n".join(k6.log_tail(generators, 15)))
    return result


def _record(stack: Stack, params: LoadParams, run_id: str, run_dir: Path, started: datetime, status: str,
            problems: list[str], codes: dict | None = None, segments: dict | None = None,
            overhead: dict | None = None,
            fault_timer: faults.FaultTimer | faults.NoFault | None = None,
            cpu: dict[str, dict] | None = None) -> RunResult:
    """Build and write run.json and the time-ordered evidence.jsonl from what the run left."""
    finished = datetime.now(timezone.utc)
    files.chown_if_root([run_dir, *run_dir.rglob("*")], 0, 0)  # loadgen-<i>/ too
    logs = stack.run("logs", "--no-color", "--no-log-prefix",
                     "--since", started.isoformat(), "--until", (finished + timedelta(seconds=2)).isoformat(),
                     "app", capture=True, check=False).stdout or ""
    (run_dir / "app.log").write_text(logs)
    # The fault's recovery reads the per-request CSV: the merged one, with several k6.
    fault = (lambda _folder: faults.finish(fault_timer, run_dir)) if fault_timer is not None else None
    settings = stack.app_settings()
    found_versions: dict = {}
    if status == run_record.INTERRUPTED:
        problems.append("versions: not collected (interrupted)")
    else:
        try:
            found_versions, version_problems = versions.collect(stack, stack.running_services())
            problems += version_problems
        except Exception as exc:  # noqa: BLE001 - a missing version never loses the run
            problems.append(f"versions: not collected: {exc}")
    run = assemble.assemble(assemble.Raw(
        folder=run_dir, status=status, started=started, finished=finished, run_id=run_id,
        selection=run_record.Selection(**stack.selection.as_dict(), front=stack.front, via="compose",
                                       front_keepalive=stack.front_keepalive if stack.front != "none" else None),
        load=run_record.Load(**{**asdict(params), "target": stack.target()}),
        app_settings=settings, app_log=logs.splitlines(),
        samples=run_record.read_evidence(run_dir / run_record.EVIDENCE), exit_codes=codes or {},
        segments=segments or {}, cpu=cpu, versions=found_versions, problems=problems, overhead=overhead,
        fault=fault))
    assemble.write(run_dir, run)
    return RunResult(run_id=run_id, run_dir=run_dir, summary=run.summary, errors=run.record.app_errors,
                     peak_db_connections=run.record.db.peak_client_backends, verdict=run.verdict, settings=settings,
                     selection=stack.selection.as_dict(), params=asdict(params), record=run.record)
