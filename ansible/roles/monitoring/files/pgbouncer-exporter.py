#!/usr/bin/python3
"""Debian's prometheus-pgbouncer-exporter (1.7) against PgBouncer 1.8 or later.

The package reads SHOW STATS' `total_requests`, which PgBouncer 1.8 renamed
`total_query_count`; on bookworm's PgBouncer (1.18) it stops at start with
KeyError: 'total_requests'. This runs the package's own main() with that one
column renamed; the metric keeps the package's name (pgbouncer_requests_total).
"""
from prometheus_pgbouncer_exporter import cli, collectors

metrics = dict(collectors.StatsCollector.metrics)
if "total_requests" in metrics:
    metrics["total_query_count"] = metrics.pop("total_requests")
collectors.StatsCollector.metrics = metrics

if __name__ == "__main__":
    cli.main()
