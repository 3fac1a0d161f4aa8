"""The controller's half of playbooks/diagnose.yml: evidence read on a real
app host and its database in, a verdict out (the same code as `make diagnose`).

stdin: JSON with host, app (the app host's local facts: variant, settings),
profile, netns (sockets.py's JSON lines), db (psql's output of
evidence/pg_sample.sql, parsed by churnlab.evidence.postgres as everywhere) and
log (the app unit's recent journal). stdout: the verdict in plain words, then its
JSON on the last line.
"""
from __future__ import annotations

import json
import sys

from churnlab import diagnosis
from churnlab.core.errors import ExitStatus
from churnlab.evidence import postgres


def _text(value) -> str:
    """A command's stdout as text (Ansible turns a one-line JSON stdout into a mapping)."""
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value or "")


def verdict_of(payload: dict) -> diagnosis.Verdict:
    app = payload.get("app") or {}
    records = [json.loads(line) for line in _text(payload.get("netns")).splitlines() if line.startswith("{")]
    records += postgres.parse(_text(payload.get("db")))
    return diagnosis.diagnose(diagnosis.facts_from_log(records, str(payload.get("log", "")).splitlines(),
                                                       app.get("settings", {}), app.get("variant"),
                                                       payload.get("profile")))


def main() -> int:
    try:
        payload = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"hostdiag: stdin is not JSON: {exc}", file=sys.stderr)
        return ExitStatus.BAD_INPUT
    verdict = verdict_of(payload)
    print(f"{payload.get('host', '?')}: verdict ({verdict.case})")
    print(verdict.text())
    print(json.dumps(verdict.as_dict()))
    return ExitStatus.SUCCESS


if __name__ == "__main__":
    raise SystemExit(main())
