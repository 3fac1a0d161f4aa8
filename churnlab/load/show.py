"""A finished run as a person reads it: its table of figures, then its verdict."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from churnlab.core import fmt
from churnlab.core.console import console
from churnlab.evidence import k6_summary
from churnlab.live.terminal import verdict

if TYPE_CHECKING:
    from churnlab.load.run import RunResult


def run_summary(result: RunResult, title: str | None = None, show_verdict: bool = True) -> None:
    """The run's table, then its verdict. Training mode gives its own title and may hide the verdict."""
    s = result.summary
    st = result.settings
    title = title or (f"{result.selection['variant']} + {result.selection['profile']}: "
             f"{st.get('WORKER_CLASS')} x{st.get('WORKERS')}"
             + (f" x{st.get('THREADS')} threads" if st.get("WORKER_CLASS") == "gthread" else "")
             + f", CONN_MAX_AGE={st.get('CONN_MAX_AGE')}, DB at {st.get('DB_HOST')}:{st.get('DB_PORT')}")
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("run", f"{result.run_id}  ({result.run_dir})")
    table.add_row("load", f"{s.scenario}, {s.vus} VUs, keep-alive {'on' if s.keepalive else 'off'}")
    table.add_row("requests", f"{s.requests:,} at {s.rps:,.0f} req/s")
    colour = "red" if s.error_rate >= 0.01 else "green"
    table.add_row("errors", f"[{colour}]{s.error_rate:.1%}[/] of requests failed")
    table.add_row("status codes", ", ".join(f"{code}: {n:,}" for code, n in sorted(s.status_counts.items())))
    table.add_row("latency", ", ".join(f"{name} {fmt.number(value, unit=' ms')}"
                                       for name, value in (("p50", s.p50_ms), ("p95", s.p95_ms), ("p99", s.p99_ms))))
    per = result.record.load.per_loadgen if result.record else []
    if len(per) > 1:  # several generators: the figures above are their merge (churnlab.evidence.k6_merge)
        table.add_row("generators", "\n".join(
            f"{g['name']} ({g['segment']}): {g['requests']:,} requests, {g['errors']:,} not 200"
            + (f", k6's own errors: {sum(g['k6_errors'].values()):,}" if g["k6_errors"] else "") for g in per))
    if result.peak_db_connections is not None:
        table.add_row("peak DB client backends", f"{result.peak_db_connections:,}")
    if result.errors:
        table.add_row("app errors by kind", "\n".join(
            f"{e['count']:,} x {e['kind']}" + (f" (toward {e['target']})" if e["target"] else "")
            for e in result.errors))
    else:
        table.add_row("app errors by kind", "none logged")
    table.add_row("thresholds", thresholds(s))
    fault = result.record.fault if result.record else None
    if fault:  # faults mid-load (churnlab/faults/plan.py)
        r = fault.recovery
        table.add_row("fault", f"{fault.kind} on {fault.target}: {fault.started or 'never started'} -> "
                      f"{fault.ended or '-'}" + (f"; recovered: {r.recovered}" if r else ""))
    console.print(table)
    if result.verdict and show_verdict:
        verdict(result.verdict)


def thresholds(s) -> str:
    """k6's pass/fail, with what was crossed: slow answers alone (latency) are not failed requests,
    so a run that only crossed its latency threshold is marked slow, not failed."""
    if s.thresholds_passed:
        return "[green]passed[/]"
    crossed = s.thresholds_crossed
    latency = k6_summary.latency_crossed(crossed)
    if crossed and len(latency) == len(crossed):
        return (f"[yellow]latency crossed[/] ({', '.join(latency)}; "
                f"p95 {fmt.number(s.p95_ms, unit=' ms')}): slow answers, none of them failed for it")
    return "[red]crossed[/]" + (f" ({', '.join(crossed)})" if crossed else "")
