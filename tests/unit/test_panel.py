"""The live panel: its rendering from a synthetic state, and the figures it is fed
(k6's JSON lines, evidence records, the variant's DB bound, the lab's overhead)."""
import json

from rich.console import Console

from churnlab import diagnosis
from churnlab.core import catalog
from churnlab.live import k6_stream, overhead, panel, view

STATE = view.PanelState(
    title="k6 ab: 500 VUs x 10000 requests on direct + repro", elapsed_s=12.4, done=4200, total=10000, rps=480,
    errors_per_s={"499": 410, "connection reset by peer": 3}, errors_total=3100, db_target="db:5432",
    time_wait=930, ports_in_use=990, port_range=1000, db_connections=61, db_bound=4096,
    db_bound_label=view.MAX_CONNECTIONS)


def shown(state: view.PanelState) -> str:
    out = Console(width=160, record=True, color_system=None, force_terminal=False)
    out.print(view.render(state))
    return out.export_text()


def test_the_panel_shows_every_figure_against_its_bound():
    text = shown(STATE)
    assert "4,200 / 10,000 requests, 0:12 elapsed, 5,800 left, ~0:12" in text
    assert "480" in text and "499 410, connection reset by peer 3" in text and "3,100 failed in all" in text
    assert "TIME_WAIT to db:5432" in text and "930" in text
    assert "990 / 1,000 (99%)" in text
    assert "61 / 4,096 (max_connections)" in text
    assert "PgBouncer" not in text  # no PgBouncer in this variant: no row


def test_pgbouncer_waiting_and_a_duration_scenario():
    state = view.PanelState(title="ramp", elapsed_s=20, done=900, duration_s=60, rps=None, pgbouncer_waiting=17,
                             db_connections=20, db_bound=20, db_bound_label="(PgBouncer pool_size)")
    text = shown(state)
    assert "PgBouncer waiting" in text and "17" in text
    assert "0:40 left of 1:00" in text and "900 requests" in text
    assert "20 / 20 (PgBouncer pool_size)" in text
    assert "-" in view.plain_line(state)  # req/s not known yet


def test_the_plain_line_carries_the_same_figures_on_one_line():
    line = view.plain_line(STATE)
    assert "\n" not in line
    for part in ("4,200/10,000 requests", "480 req/s", "errors/s 499 410, connection reset by peer 3",
                 "TIME_WAIT db:5432 930", "ports 990/1,000 (99%)", "DB conns 61/4,096 (max_connections)",
                 "5,800 left, ~0:12"):
        assert part in line, (part, line)


def _point(status: str, scenario: str = "ab", **tags) -> bytes:
    return json.dumps({"metric": "http_reqs", "type": "Point", "data": {
        "time": "2026-11-25T23:00:00Z", "value": 1,
        "tags": {"status": status, "scenario": scenario, "expected_response": str(status == "200").lower(),
                 **tags}}}).encode()


def test_k6_lines_give_requests_and_errors_by_kind_per_second(tmp_path):
    stream = k6_stream.K6Stream(tmp_path / "fifo", "ab")
    other = json.dumps({"metric": "http_req_duration", "type": "Point", "data": {"value": 3, "tags": {}}}).encode()
    stream.feed([_point("200")] * 5 + [_point("499")] * 3 + [other, b'{"type":"Metric","metric":"http_reqs"}'],
                now=100.2)
    stream.feed([_point("200", scenario="")], now=100.5)  # setup()'s smoke request: not the load
    stream.feed([_point("0", error="dial tcp 172.18.0.3:8000: connect: connection refused", error_code="1212")],
                now=100.9)
    stream.feed([_point("200")] * 2 + [b'{"metric":"http_reqs","type":"Point","data":{"ta'], now=101.1)
    assert stream.done == 11 and stream.errors_total == 4
    assert stream.last_second(now=101.5) == (9, {"499": 3, "connection refused": 1})
    assert stream.last_second(now=102.5) == (2, {})
    assert stream.last_second(now=110) == (0, {})


def test_evidence_records_update_the_state():
    state = view.PanelState(title="t", db_target="db:5432", db_bound=800, db_bound_label="(workers x threads)")
    state = panel._with_record(state, {"source": "netns", "time_wait": 500, "local_ports_in_use": 700,
                                       "port_range_size": 1000, "targets": {"db:5432": {"time_wait": 480}}})
    state = panel._with_record(state, {"source": "postgres", "client_backends": 120, "max_connections": 4096})
    state = panel._with_record(state, {"source": "pgbouncer", "clients_waiting": 4})
    assert (state.time_wait, state.ports_in_use, state.port_range) == (480, 700, 1000)
    assert (state.db_connections, state.db_bound, state.pgbouncer_waiting) == (120, 800, 4)
    unbounded = panel._with_record(view.PanelState(title="t"), {"source": "postgres", "client_backends": 9,
                                                                 "max_connections": 4096})
    assert (unbounded.db_bound, unbounded.db_bound_label) == (4096, view.MAX_CONNECTIONS)


def test_the_db_bound_is_the_variants_own():
    def bound(variant, pool=None, **knobs):
        selection = catalog.Selection.of(variant, "repro", knobs)
        return diagnosis.connection_bound(selection.app_environment(), catalog.variant(variant)["db_path"], pool)

    assert bound("gthread") == (800, "(workers x threads)")
    assert bound("gthread", WORKERS="4", THREADS="16") == (64, "(workers x threads)")
    assert bound("native-pool") == (160, "(workers x pool max_size)")
    assert bound("pgbouncer", pool=20) == (20, "(PgBouncer pool_size)")
    assert bound("direct") == (None, "")  # eventlet without a pool: nothing bounds it


def test_the_ramp_duration_is_the_k6_scripts_own():
    assert k6_stream.ramp_duration() == 60.0


def test_overhead_share_counts_samplers_inside_containers_as_the_labs():
    got = overhead.figures(10.0, own=0.5, samplers_host=0.3, samplers_inside=0.2,
                           containers={"app": 8.2, "db": 2.0})
    # lab 1.0 s; served 10.2 - 0.2 = 10.0 s
    assert got["lab_share"] == round(1.0 / 11.0, 4)
    assert got["samplers_cpu_s"] == 0.5 and got["containers_cpu_s"] == {"app": 8.2, "db": 2.0}
    assert overhead.figures(1.0, 0.0, 0.0, 0.0, {})["lab_share"] is None


def test_marked_processes_are_found_by_their_command_line(tmp_path):
    def proc(pid, cmdline, cgroup, utime, stime):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "cmdline").write_bytes(cmdline)
        (d / "cgroup").write_text(cgroup)
        (d / "stat").write_text(f"{pid} (py thon) S 1 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 5\n")

    proc(10, b"docker\0compose\0exec\0--tag\0churnlab-sampler-abc\0", "0::/user.slice\n", 100, 50)
    proc(11, b"python3\0-c\0...\0--tag\0churnlab-sampler-abc\0", "0::/system.slice/docker-1.scope\n", 30, 20)
    proc(12, b"python3\0other\0", "0::/user.slice\n", 999, 999)
    (tmp_path / "self").mkdir()
    ticks = __import__("os").sysconf("SC_CLK_TCK")
    assert overhead.marked_processes("churnlab-sampler-abc", tmp_path) == (150 / ticks, 50 / ticks)
