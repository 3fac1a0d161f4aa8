"""run.json for a load run on Ansible-provisioned hosts (playbooks/load.yml).

load.yml fetches k6-summary.json, k6.log, app.log (the app unit's journal for
the run), db-connections.csv and netns.jsonl (the app host's sockets, sampled
by churnlab/evidence/sockets.py) into results/<run-id>/, plus meta.json with
what the hosts reported (variant, profile, app settings, versions). This
writes evidence.jsonl and run.json (with its verdict) in the same form
churnlab.loadrun writes for the compose lab, so the report and diagnosis code
read both alike.

Usage: python -m churnlab.hostrun RESULTS/<run-id>
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from churnlab import app_errors, diagnosis
from churnlab.k6_summary import parse


def _db_samples(path: Path) -> tuple[list[dict], str | None]:
    if not path.exists():
        return [], "no db-connections.csv"
    rows = []
    for row in csv.DictReader(path.read_text().splitlines()):
        try:
            rows.append({"ts": float(row["ts"]), "client_backends": int(row["client_backends"]),
                         "active": int(row["active"]), "max_connections": int(row["max_connections"])})
        except (KeyError, TypeError, ValueError):
            continue
    return rows, None if rows else "no samples"


def write_evidence(run_dir: Path, samples: list[dict], log_lines: list[str]) -> list[dict]:
    """evidence.jsonl as the compose lab writes it: netns, postgres and app_errors records."""
    records = diagnosis.read_evidence(run_dir / "netns.jsonl")
    records += [{"ts": s["ts"], "source": "postgres", "client_backends": s["client_backends"],
                 "by_state": {"active": s["active"], "other": s["client_backends"] - s["active"]},
                 "max_connections": s["max_connections"]} for s in samples]
    records += app_errors.per_second(log_lines)
    records.sort(key=lambda r: r["ts"])
    (run_dir / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def build(run_dir: Path) -> dict:
    meta = json.loads((run_dir / "meta.json").read_text())
    summary = parse(run_dir / "k6-summary.json")
    log = run_dir / "app.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    errors = app_errors.as_records(app_errors.count(lines))
    samples, probe_error = _db_samples(run_dir / "db-connections.csv")
    records = write_evidence(run_dir, samples, lines)
    netns = [r for r in records if r.get("source") == "netns"]
    record = {
        "run_id": meta["run_id"],
        "started": meta.get("started"), "finished": meta.get("finished"),
        "selection": {"variant": meta.get("variant"), "profile": meta.get("profile"), "knobs": {},
                      "via": "ansible", "hosts": meta.get("hosts", {})},
        "app_settings": meta.get("app_settings", {}),
        "load": meta.get("load", {}),
        "summary": summary.as_dict(),
        "app_errors": errors,
        "db": {"peak_client_backends": max((s["client_backends"] for s in samples), default=None),
               "samples": len(samples), "probe_error": probe_error,
               "max_connections": samples[-1]["max_connections"] if samples else meta.get("max_connections")},
        "evidence": {"samples": len(records), "targets": list(netns[-1]["targets"]) if netns else [],
                     "peak_time_wait": max((r["time_wait"] for r in netns), default=None),
                     "peak_port_use_pct": max((r["port_use_pct"] for r in netns), default=None)},
        "versions": meta.get("versions", {}),
    }
    record["verdict"] = diagnosis.diagnose(diagnosis.facts_from_record(record, records)).as_dict()
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    record = build(run_dir)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    total = sum(e["count"] for e in record["app_errors"])
    verdict = record["verdict"]
    print(f"{record['run_id']}: {record['summary']['requests']} requests, "
          f"error rate {record['summary']['error_rate']:.2%}, {total} app errors\n"
          f"verdict ({verdict['case']}): {verdict['headline']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
