"""run.json for a load run on Ansible-provisioned hosts (playbooks/load.yml).

load.yml fetches k6-summary.json, k6.log, app.log (the app unit's journal for
the run) and db-connections.csv into results/<run-id>/, plus meta.json with
what the hosts reported (variant, profile, app settings, versions). This
writes run.json in the same form churnlab.loadrun writes for the compose lab,
so the report and diagnosis code read both alike.

Usage: python -m churnlab.hostrun RESULTS/<run-id>
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from churnlab import app_errors
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


def build(run_dir: Path) -> dict:
    meta = json.loads((run_dir / "meta.json").read_text())
    summary = parse(run_dir / "k6-summary.json")
    log = run_dir / "app.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    errors = app_errors.as_records(app_errors.count(lines))
    samples, probe_error = _db_samples(run_dir / "db-connections.csv")
    return {
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
        "versions": meta.get("versions", {}),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    record = build(run_dir)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    total = sum(e["count"] for e in record["app_errors"])
    print(f"{record['run_id']}: {record['summary']['requests']} requests, "
          f"error rate {record['summary']['error_rate']:.2%}, {total} app errors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
