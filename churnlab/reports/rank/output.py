"""The rank's outputs from rank.json's data: rank.md, the HTML table and chart."""
from __future__ import annotations

from churnlab.core import catalog
from churnlab.core.fmt import number as _num


def _repro(c: dict) -> str:
    r = c["repro"]
    if not r.get("applies"):
        if c["variant"] not in catalog.incident("variant"):
            return "not run"
        # an incident's variant on the default profile is no fix: the trap, measured beside its fix (asgi)
        return "n/a (the fix is its profile)" if c.get("profile") != "default" else "n/a (the trap, not a fix)"
    if r.get("holds") is None:
        return "not measured"
    return "holds" if r["holds"] else f"fails ({r.get('verdict')}, {100 * r.get('error_rate', 0):.1f}% errors)"


def _per_level(c: dict, levels: list[int], get) -> str:
    by = {lv["vus"]: lv for lv in c["levels"]}
    return " / ".join(get(by[v]) if v in by else "-" for v in levels)


def ranking_rows(data: dict) -> list[list[str]]:
    rows = []
    levels = data["load"]["levels"]
    for i, c in enumerate(data["candidates"], 1):
        s = c["summary"]
        top = next((lv.get("healthz") or {} for lv in c["levels"] if lv["vus"] == max(levels)), {})
        rows.append([str(i), c["name"],
                     _per_level(c, levels, lambda lv: _num((lv.get("healthz") or {}).get("rps"))),
                     _per_level(c, levels, lambda lv: _num((lv.get("ping") or {}).get("rps"))),
                     _per_level(c, levels, lambda lv: _num(lv.get("ratio"), ".2f")),
                     f"{_num(top.get('p50_ms'))} / {_num(top.get('p99_ms'))}",
                     _num(100 * s["max_error_rate"], ".2f"), _num(s["peak_db"]), _num(s["peak_ports"]),
                     _repro(c), "the limit" if s["generator_limited"] else "not the limit"])
    return rows


def header(data: dict) -> list[str]:
    levels = "/".join(f"c={v:,}" for v in data["load"]["levels"])
    top = f"c={max(data['load']['levels']):,}"
    return ["#", "fix (variant+profile)", f"healthz req/s {levels}", f"ping req/s {levels}",
            f"ratio {levels}", f"p50/p99 ms {top}", "error % (max)", "peak DB conns", "peak ports in use",
            "holds under repro", "load generator (k6)"]


def md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


APP_PACKAGES = ("django", "gunicorn", "psycopg2", "psycopg")


def app_stacks(data: dict) -> list[str]:
    """The app stacks that ran, each with the fixes that ran on it ("django 5.2.19,
    gunicorn 27.0.1, psycopg 3.3.9 (native-pool, gevent-pool)"); a rank without
    per-fix versions names the first run's."""
    stacks: dict[str, list[str]] = {}
    for c in data["candidates"]:
        app = c.get("app_versions") or {}
        text = ", ".join(f"{k} {app[k]}" for k in APP_PACKAGES if app.get(k))
        if text and c["variant"] not in stacks.setdefault(text, []):
            stacks[text].append(c["variant"])
    if len(stacks) > 1:
        return [f"{text} ({', '.join(variants)})" for text, variants in stacks.items()]
    if stacks:
        return list(stacks)
    app = (data.get("versions") or {}).get("app") or {}
    return [", ".join(f"{k} {app[k]}" for k in APP_PACKAGES if app.get(k))] if app else []


def note(data: dict) -> str:
    m, load, v = data["machine"], data["load"], data.get("versions") or {}
    parts = app_stacks(data)
    pg = v.get("postgres")
    if v.get("k6_image"):
        parts.append(f"k6 {v['k6_image'].rsplit(':', 1)[-1]}")
    return (f"Measured {data['made'][:16].replace('T', ' ')} UTC by `make rank` on {m['cores']} cores "
            f"(Linux {m['kernel']}; load average {m['loadavg_before'][0]:.2f} before, "
            f"{m['loadavg_after'][0]:.2f} after; {data['duration_s'] / 60:.0f} min). "
            f"k6 ab, {load['iterations']:,} requests per run, no keep-alive; /api/v1/ping/ then "
            f"/api/v1/healthz/ on the same fresh stack per level. Versions: "
            + "; ".join(parts + ([f"PostgreSQL {pg}"] if pg else [])) + ".")


def markdown(data: dict) -> str:
    lines = [f"# Which fix to pick: rank {data['rank_id']}", "", note(data), "",
             md_table(header(data), ranking_rows(data)),
             f"Order: {data['rule']}. Target: healthz >= {data['target_ratio']} x ping with 0 errors.", ""]
    if data.get("stopped"):
        lines += [f"**Stopped early** ({data['stopped']['reason']}): {data['stopped']['error']}", ""]
    lines += ["## Where the time goes", "",
              "CPU per request of each container (ms, from its cgroup), ping against healthz at the same level. "
              "When the machine is CPU-bound, the ceiling ratio cannot exceed ping's total over healthz's total "
              "(the CPU-bound ratio): the rest of healthz's time is the DB query's CPU, in the app and in Postgres.",
              "", md_table(["fix", "c", "ping: app db pgbouncer k6", "healthz: app db pgbouncer k6",
                             "CPU-bound ratio", "measured ratio"],
                            [[c["name"], f"{lv['vus']:,}", _cpu(lv["ping"]), _cpu(lv["healthz"]),
                              _num(cpu_bound_ratio(lv), ".2f"), _num(lv.get("ratio"), ".2f")]
                             for c in data["candidates"] for lv in c["levels"]
                             if lv.get("ping") and lv.get("healthz")])]
    lines += ["## Every run", "", md_table(
        ["fix", "c", "endpoint", "req/s", "p50 ms", "p99 ms", "error %", "peak DB", "peak ports",
         "k6 own errors", "CPU ms/request (app db pgbouncer k6)", "k6 CPU share", "run"],
        [[c["name"], f"{lv['vus']:,}", e, _num(f["rps"]), _num(f["p50_ms"]), _num(f["p99_ms"]),
          _num(100 * f["error_rate"], ".2f"), _num(f["peak_db"]), _num(f["peak_ports"]),
          ", ".join(f"{k}: {n}" for k, n in f["k6_errors"].items()) or "0",
          _cpu(f),
          _num(f["k6_cpu_share"], ".2f"), f["run"] or f"failed: {f.get('error', '')[:80]}"]
         for c in data["candidates"] for lv in c["levels"] for e in ("ping", "healthz") if (f := lv.get(e))])]
    return "\n".join(lines) + "\n"


SERVICES = ("app", "db", "pgbouncer", "k6")


def _cpu(fig: dict) -> str:
    per = fig.get("cpu_ms_per_request") or {}
    return " ".join(_num(per.get(s), ".2f") for s in SERVICES)


def cpu_bound_ratio(level: dict) -> float | None:
    """Total CPU per ping request over total CPU per healthz request: the ratio's ceiling when CPU-bound."""
    ping = sum(((level.get("ping") or {}).get("cpu_ms_per_request") or {}).values())
    healthz = sum(((level.get("healthz") or {}).get("cpu_ms_per_request") or {}).values())
    return round(ping / healthz, 3) if ping and healthz else None


def html_table(data: dict) -> str:
    import html

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header(data))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in ranking_rows(data))
    return (f"<p>{html.escape(note(data))}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>Order: {html.escape(data['rule'])}.</p>")


def chart(data: dict):
    """The fixes on one chart: ceiling ratio and healthz req/s against concurrency."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("ceiling ratio: healthz / ping req/s",
                                                        "/api/v1/healthz/ req/s"))
    for c in data["candidates"]:
        levels = [lv for lv in c["levels"] if lv.get("healthz")]
        xs = [lv["vus"] for lv in levels]
        fig.add_trace(go.Scatter(x=xs, y=[lv["ratio"] for lv in levels], name=c["name"], mode="lines+markers",
                                 legendgroup=c["name"]), row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=[lv["healthz"]["rps"] for lv in levels], name=c["name"],
                                 mode="lines+markers", legendgroup=c["name"], showlegend=False), row=1, col=2)
    fig.add_hline(y=data["target_ratio"], line_dash="dash", annotation_text="target", row=1, col=1)
    fig.update_xaxes(title_text="concurrent clients (ab -c)", type="log")
    fig.update_layout(height=420, margin=dict(l=60, r=20, t=60))
    return fig
