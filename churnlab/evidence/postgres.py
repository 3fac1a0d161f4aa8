"""The one Postgres sample: pg_sample.sql, run by psql wherever the lab
samples (a persistent psql in the compose lab, psql \\watch on a db host).
Each sample is one line of JSON, already an evidence record (source
"postgres"); `parse` reads any psql output of it. Standard library only."""
from __future__ import annotations

import json
from pathlib import Path

SQL_FILE = Path(__file__).with_name("pg_sample.sql")
QUERY = SQL_FILE.read_text().strip()


def parse_line(line: str) -> dict | None:
    """One sample from one line of `psql -At` output; None for anything else."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
        record["ts"] = float(record["ts"])
        record["client_backends"] = int(record["client_backends"])
        record["max_connections"] = int(record["max_connections"])
        record["by_state"] = {str(k): int(v) for k, v in (record.get("by_state") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if record.get("source") != "postgres":
        return None
    return record


def parse(text: str) -> list[dict]:
    """Every sample in psql's output (blank lines and \\watch headers skipped)."""
    return [r for r in map(parse_line, text.splitlines()) if r is not None]
