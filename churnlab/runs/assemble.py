"""One assembler of run.json, whichever path made the run.

The compose lab (churnlab.load.run) and the hosts (churnlab.hosts.run) each
gather what their run left into one typed record, `Raw`; `assemble` turns it
into the RunRecord (churnlab.core.run_record: its one writer and one reader)
and the time-ordered evidence, and `write` puts both into the run's folder.
Neither path builds a RunRecord of its own.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.evidence import app_errors, k6_merge, port_budget
from churnlab.evidence.k6_summary import LoadSummary


@dataclass
class Raw:
    """What one run left, as its path gathered it."""

    folder: Path                        # k6's outputs: one generator's, or loadgen-<name>/ each
    status: str                         # run_record's FINISHED, FAILED or INTERRUPTED, as the path saw it
    started: datetime
    finished: datetime
    selection: run_record.Selection
    load: run_record.Load               # the load asked for; per_loadgen is filled in here
    app_settings: dict = field(default_factory=dict)
    app_log: list[str] = field(default_factory=list)  # the app's log lines during the run
    samples: list[dict] = field(default_factory=list)  # the samplers' records (netns, postgres, pgbouncer)
    exit_codes: dict[str, int | None] = field(default_factory=dict)  # k6's, by generator
    segments: dict[str, str] = field(default_factory=dict)           # each generator's execution segment
    cpu: dict[str, dict] | None = None  # each generator's measured CPU, by name (else its k6.time)
    versions: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    overhead: dict | None = None
    # The fault's record, read once the generators' CSVs are merged (its recovery reads them).
    fault: Callable[[Path], run_record.Fault | None] | None = None
    run_id: str | None = None           # None: named from what ran (run_record.run_id, plus the fault's kind)


def evidence_figures(records: list[dict]) -> tuple[run_record.Db, run_record.Evidence]:
    """The record's db and evidence parts, from the evidence records."""
    peak = run_record.peak
    netns = [r for r in records if r.get("source") == "netns"]
    pg = [r for r in records if r.get("source") == "postgres"]
    db = run_record.Db(peak_client_backends=peak(records, "postgres", "client_backends"),
                       max_connections=pg[-1].get("max_connections") if pg else None, samples=len(pg))
    ev = run_record.Evidence(samples=len(records), targets=list(netns[-1].get("targets", {})) if netns else [],
                             peak_time_wait=peak(records, "netns", "time_wait"),
                             peak_port_use_pct=peak(records, "netns", "port_use_pct"),
                             peak_pgbouncer_server_connections=peak(records, "pgbouncer", "server_connections"),
                             port_budget=[b.as_dict() for b in port_budget.compute(records)])
    return db, ev


@dataclass
class Assembled:
    record: run_record.RunRecord        # run.json's content; its verdict when the run finished
    evidence: list[dict]                # evidence.jsonl's, in time order
    summary: LoadSummary | None         # the record's summary, as the type it was built from
    verdict: diagnosis.Verdict | None   # likewise the record's verdict


def assemble(raw: Raw) -> Assembled:
    """The run's record (with its verdict when it finished) and its evidence in time order."""
    evidence = sorted(raw.samples + app_errors.per_second(raw.app_log), key=lambda r: float(r["ts"]))
    summary, per_loadgen = k6_merge.summarize(raw.folder, raw.exit_codes, raw.segments, raw.cpu)
    problems = list(raw.problems)
    if raw.status == run_record.FINISHED:  # k6 ran to its end: say which summary gave no figures, and why
        several = len(per_loadgen) > 1
        problems += [("k6 on loadgen " + g["name"] if several else "k6") + f": {g['summary_problem']}"
                     for g in per_loadgen if g.get("summary_problem")]
    fault = raw.fault(raw.folder) if raw.fault else None
    status = run_record.FAILED if raw.status == run_record.FINISHED and summary is None else raw.status
    load = replace(raw.load, per_loadgen=per_loadgen)
    run_id = raw.run_id or (run_record.run_id(raw.started, str(raw.selection.variant), str(raw.selection.profile),
                                              load.scenario, load.vus, load.keepalive)
                            + (f"-{fault.kind}" if fault else ""))
    db, ev = evidence_figures(evidence)
    record = run_record.RunRecord(
        run_id=run_id, status=status, started=raw.started.isoformat(), finished=raw.finished.isoformat(),
        selection=raw.selection, app_settings=raw.app_settings, load=load,
        summary=summary.as_dict() if summary else None,
        app_errors=app_errors.as_records(app_errors.count(raw.app_log)), db=db, evidence=ev,
        versions=raw.versions, problems=problems, overhead=raw.overhead, fault=fault)
    verdict = None
    if status == run_record.FINISHED:
        verdict = diagnosis.diagnose(diagnosis.facts_from_record(record, evidence))
        record.verdict = verdict.as_dict()
    return Assembled(record, evidence, summary, verdict)


def write(run_dir: Path, run: Assembled) -> Path:
    """evidence.jsonl and run.json into the run's folder."""
    run_record.write_evidence(run_dir / run_record.EVIDENCE, run.evidence)
    return run_record.write(run_dir, run.record)
