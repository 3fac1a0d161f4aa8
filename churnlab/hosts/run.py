"""The record of a load run on Ansible-provisioned hosts (playbooks/load.yml).

load.yml only runs k6 and the samplers and fetches their raw output into a
staging folder (results/.incoming-*), with host-facts.json: what the hosts
reported, as they reported it (the app host's local fact, its sysctl
profile, the host names, the load's parameters, start and end times, k6's
exit code and the raw output of the version commands). Each file is
optional: a probe that failed leaves its file missing, which is recorded.

  k6-summary.json, k6.log,  from the load generator; with several, each in
  k6-metrics.csv.gz, k6.rc  loadgen-<host>/ (k6_merge merges them exactly)
  app.log                   the app unit's journal for the run
  postgres.jsonl            evidence/pg_sample.sql under psql \\watch on the db host
  netns.jsonl               sockets.py (churnlab-sockets) on the app host
  fault.txt                 FAULT=...: the fault's timer's started/ended/error lines (churnlab.hosts.faults)

This builds the RunRecord (churnlab.core.run_record) from them, names the run with
run_record.run_id, moves the folder to results/<run-id>/ and writes
evidence.jsonl and run.json, exactly as churnlab.load.run does for the
compose lab, so diagnose and the report read both alike.

Usage: python -m churnlab.hosts.run RESULTS/.incoming-<id>
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from churnlab.compose import versions
from churnlab.core import run_record
from churnlab.diagnosis import verdict as diagnosis
from churnlab.evidence import app_errors, k6_merge, postgres
from churnlab.evidence.k6_summary import COMPLETED_EXITS
from churnlab.hosts import faults as hostfault

FACTS = "host-facts.json"


def _when(epoch) -> datetime:
    try:
        return datetime.fromtimestamp(float(epoch), timezone.utc)
    except (TypeError, ValueError):
        return datetime.now(timezone.utc)


def _read(path: Path, problems: list[str], what: str) -> str:
    if not path.exists():
        problems.append(f"{what}: {path.name} was not fetched")
        return ""
    return path.read_text(errors="replace")


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def build(fetch_dir: Path) -> tuple[run_record.RunRecord, list[dict]]:
    """The record and the time-ordered evidence of a fetched host run."""
    facts = json.loads((fetch_dir / FACTS).read_text())
    problems: list[str] = []
    app = facts.get("app_fact") or {}
    load = facts.get("load") or {}
    started, finished = _when(facts.get("started_epoch")), _when(facts.get("finished_epoch"))
    # -- several load generators (issue 12): each host's exit code in its folder's k6.rc --
    codes: dict[str, int | None] = {}
    folders = k6_merge.parts(fetch_dir)
    for folder in folders:
        name = folder.name.removeprefix(k6_merge.PART_PREFIX) if folder != fetch_dir else "1"
        rc = (folder / "k6.rc").read_text().strip() if (folder / "k6.rc").exists() else facts.get("k6_rc")
        codes[name] = None if rc in (None, "", "None") else _int(rc, -1)
    summary, per_loadgen = k6_merge.summarize(fetch_dir, codes, facts.get("segments") or {})
    # FAULT=... (churnlab.hosts.faults): its recovery reads the per-request CSV, merged just above.
    fault = hostfault.record(fetch_dir, facts)
    for folder, (name, k6_rc) in zip(folders, codes.items(), strict=True):
        who = f"k6 on {name}" if len(folders) > 1 else "k6"
        if k6_rc is None:
            problems.append(f"{who} did not run")
        elif k6_rc not in COMPLETED_EXITS:
            tail = (folder / "k6.log").read_text(errors="replace").splitlines()[-3:] \
                if (folder / "k6.log").exists() else []
            problems.append(f"{who} failed (exit {k6_rc}): " + " | ".join(tail))
    completed = bool(codes) and all(rc in COMPLETED_EXITS for rc in codes.values())
    status = run_record.FINISHED if summary and completed else run_record.FAILED
    lines = _read(fetch_dir / "app.log", problems, "app log").splitlines()
    pg = postgres.parse(_read(fetch_dir / "postgres.jsonl", problems, "postgres sampler"))
    netns = run_record.read_evidence(fetch_dir / "netns.jsonl")  # [] when it was not fetched
    if not (fetch_dir / "netns.jsonl").exists():
        problems.append("netns sampler: netns.jsonl was not fetched")
    for name, records in (("postgres sampler", pg), ("netns sampler", netns)):
        if not records and not any(p.startswith(name) for p in problems):
            problems.append(f"{name}: no samples")
    problems += [f"host: {p}" for p in facts.get("problems") or []]
    raw = facts.get("versions") or {}
    found_versions = {"postgres": str(raw.get("postgres") or "").strip(), "k6": str(raw.get("k6") or "").strip()}
    try:
        app_raw = raw.get("app")  # Ansible may have read the one-line JSON into a mapping already
        found_versions["app"] = app_raw if isinstance(app_raw, dict) else versions.parse_app(str(app_raw or ""))
    except json.JSONDecodeError as exc:
        found_versions["app"] = {}
        problems.append(f"versions: the app's answer is not JSON: {exc}")
    for part, value in found_versions.items():
        if not value:
            problems.append(f"versions: {part} did not answer")
    evidence = sorted(netns + pg + app_errors.per_second(lines), key=lambda r: float(r["ts"]))
    db, ev = run_record.evidence_figures(evidence)
    scenario, vus, keepalive = str(load.get("scenario", "ab")), _int(load.get("vus")), \
        str(load.get("keepalive")).lower() in ("true", "1", "yes", "on")
    variant, profile = app.get("variant"), facts.get("profile") or "unknown"
    record = run_record.RunRecord(
        run_id=run_record.run_id(started, str(variant), str(profile), scenario, vus, keepalive)
        + (f"-{fault.kind}" if fault else ""),
        status=status, started=started.isoformat(), finished=finished.isoformat(),
        selection=run_record.Selection(variant=variant, profile=profile, via="ansible",
                                       hosts=facts.get("hosts") or {}, front=str(facts.get("front") or "none")),
        app_settings=app.get("settings") or {},
        load=run_record.Load(scenario=scenario, vus=vus, iterations=_int(load.get("iterations")),
                             keepalive=keepalive, endpoint=str(load.get("endpoint", "/api/v1/healthz/")),
                             sample_interval=1.0, target=str(load.get("target") or ""),
                             loadgens=len(folders), per_loadgen=per_loadgen),
        summary=summary.as_dict() if summary else None,
        app_errors=app_errors.as_records(app_errors.count(lines)), db=db, evidence=ev,
        versions=found_versions, problems=problems, fault=fault)
    if status == run_record.FINISHED:
        record.verdict = diagnosis.diagnose(diagnosis.facts_from_record(record, evidence)).as_dict()
    return record, evidence


def finish(fetch_dir: Path) -> tuple[run_record.RunRecord, Path]:
    """Build the record, move the folder to results/<run-id>/, write evidence.jsonl and run.json."""
    record, evidence = build(fetch_dir)
    run_dir = fetch_dir.parent / record.run_id
    if run_dir.exists():
        raise SystemExit(f"hostrun: {run_dir} already exists")
    fetch_dir.rename(run_dir)
    run_record.write_evidence(run_dir / run_record.EVIDENCE, evidence)
    run_record.write(run_dir, record)
    return record, run_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / FACTS).is_file():
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    record, run_dir = finish(Path(args[0]))
    s = record.summary or {}
    total = sum(e["count"] for e in record.app_errors)
    print(f"{record.run_id} ({record.status}): {s.get('requests', 0)} requests, "
          f"error rate {s.get('error_rate', 0.0):.2%}, {total} app errors -> {run_dir}")
    if record.verdict:
        print(f"verdict ({record.verdict['case']}): {record.verdict['headline']}")
        for line in record.verdict.get("evidence") or []:
            print(f"  - {line}")
    for problem in record.problems:
        print(f"problem: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
