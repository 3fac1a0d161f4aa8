"""The controller's half of playbooks/diagnose.yml: evidence read on a real
app host and its database in, a verdict out (the same code as `make diagnose`).

stdin: JSON with host, app (the app host's local facts: variant, settings),
profile, netns (sockets.py's JSON lines), db ("ts,client_backends,max") and log
(the app unit's recent journal). stdout: the verdict in plain words, then its
JSON on the last line.
"""
from __future__ import annotations

import json
import sys

from churnlab import diagnosis


def verdict_of(payload: dict) -> diagnosis.Verdict:
    app = payload.get("app") or {}
    records = [json.loads(line) for line in str(payload.get("netns", "")).splitlines() if line.startswith("{")]
    for line in str(payload.get("db", "")).splitlines():
        ts, backends, max_conn = line.split(",")
        records.append({"ts": float(ts), "source": "postgres", "client_backends": int(backends),
                        "max_connections": int(max_conn)})
    return diagnosis.diagnose(diagnosis.facts_from_log(records, str(payload.get("log", "")).splitlines(),
                                                       app.get("settings", {}), app.get("variant"),
                                                       payload.get("profile")))


def main() -> int:
    try:
        payload = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"hostdiag: stdin is not JSON: {exc}", file=sys.stderr)
        return 2
    verdict = verdict_of(payload)
    print(f"{payload.get('host', '?')}: verdict ({verdict.case})")
    print(verdict.text())
    print(json.dumps(verdict.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
