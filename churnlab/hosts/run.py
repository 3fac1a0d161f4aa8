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
from churnlab.core.errors import ExitStatus, LabError
from churnlab.evidence import k6_merge, postgres
from churnlab.evidence.k6_summary import COMPLETED_EXITS
from churnlab.hosts import faults as hostfault
from churnlab.runs import assemble

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


def build(fetch_dir: Path) -> assemble.Assembled:
    """The record and the time-ordered evidence of a fetched host run."""
    facts = json.loads((fetch_dir / FACTS).read_text())
    problems: list[str] = []
    app = facts.get("app_fact") or {}
    load = facts.get("load") or {}
    # Several load generators: each host's exit code in its folder's k6.rc.
    codes: dict[str, int | None] = {}
    folders = k6_merge.parts(fetch_dir)
    for folder in folders:
        name = folder.name.removeprefix(k6_merge.PART_PREFIX) if folder != fetch_dir else "1"
        rc = (folder / "k6.rc").read_text().strip() if (folder / "k6.rc").exists() else facts.get("k6_rc")
        codes[name] = None if rc in (None, "", "None") else _int(rc, -1)
    for folder, (name, k6_rc) in zip(folders, codes.items(), strict=True):
        who = f"k6 on {name}" if len(folders) > 1 else "k6"
        if k6_rc is None:
            problems.append(f"{who} did not run")
        elif k6_rc not in COMPLETED_EXITS:
            tail = (folder / "k6.log").read_text(errors="replace").splitlines()[-3:] \
                if (folder / "k6.log").exists() else []
            problems.append(f"{who} failed (exit {k6_rc}): " + " | ".join(tail))
    completed = bool(codes) and all(rc in COMPLETED_EXITS for rc in codes.values())
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
    return assemble.assemble(assemble.Raw(
        folder=fetch_dir, status=run_record.FINISHED if completed else run_record.FAILED,
        started=_when(facts.get("started_epoch")), finished=_when(facts.get("finished_epoch")),
        selection=run_record.Selection(variant=app.get("variant"), profile=facts.get("profile") or "unknown",
                                       via="ansible", hosts=facts.get("hosts") or {},
                                       front=str(facts.get("front") or "none")),
        load=run_record.Load(scenario=str(load.get("scenario", "ab")), vus=_int(load.get("vus")),
                             iterations=_int(load.get("iterations")),
                             keepalive=str(load.get("keepalive")).lower() in ("true", "1", "yes", "on"),
                             endpoint=str(load.get("endpoint", "/api/v1/healthz/")), sample_interval=1.0,
                             target=str(load.get("target") or ""), loadgens=len(folders)),
        app_settings=app.get("settings") or {}, app_log=lines, samples=netns + pg, exit_codes=codes,
        segments=facts.get("segments") or {}, versions=found_versions, problems=problems,
        # FAULT=... (churnlab.hosts.faults): its recovery reads the per-request CSV, merged first.
        fault=lambda folder: hostfault.record(folder, facts)))


def finish(fetch_dir: Path) -> tuple[run_record.RunRecord, Path]:
    """Build the record, move the folder to results/<run-id>/, write evidence.jsonl and run.json."""
    run = build(fetch_dir)
    run_dir = fetch_dir.parent / run.record.run_id
    if run_dir.exists():
        raise LabError(f"{run_dir} already exists")
    fetch_dir.rename(run_dir)
    assemble.write(run_dir, run)
    return run.record, run_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / FACTS).is_file():
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return ExitStatus.BAD_INPUT
    try:
        record, run_dir = finish(Path(args[0]))
    except LabError as exc:
        print(f"hostrun: {exc}", file=sys.stderr)
        return ExitStatus.BAD_INPUT
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
    return ExitStatus.SUCCESS


if __name__ == "__main__":
    raise SystemExit(main())
