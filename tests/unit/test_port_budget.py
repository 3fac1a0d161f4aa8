"""The port budget from synthetic evidence: a small model of the kernel (a port
per new connection, held 60 s in TIME_WAIT, EADDRNOTAVAIL when the range is
full) writes the records sockets.py and the app's log would, once a second."""
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from churnlab import diagnosis
from churnlab.core import run_record
from churnlab.evidence import port_budget, sockets
from churnlab.runs import assemble

DB = "db:5432"
T0 = 1_790_000_000.0  # epoch seconds of the first sample
EADDR = "EADDRNOTAVAIL: Cannot assign requested address"


def simulate(demand: list[float], range_size: int, missed: float = 0.0, idle_after: int = 3,
             errors_named: bool = True, background: int = 1) -> list[dict]:
    """Evidence of a run asking for demand[s] new connections toward DB in second s.

    missed: the share of new connections the sampler's set comparison does not
    see (ActiveOpens still counts them). background: connections a second that are
    no target's and that no sample sees (the compose app's health check: one)."""
    held: list[tuple[float, int]] = []  # (opened at, count) within the last 60 s
    opens_total = 0
    records = []
    seconds = len(demand) + idle_after
    for s in range(seconds + 1):
        ts = T0 + s
        want = demand[s - 1] if 1 <= s <= len(demand) else 0
        held = [(t, n) for t, n in held if t > ts - 60]
        in_use = sum(n for _, n in held)
        got = min(int(want), range_size - in_use)
        failed = int(want) - got
        if s:
            held.append((ts, got))
            opens_total += got
        seen = round(got * (1 - missed))
        records.append({
            "ts": ts, "source": "netns", "time_wait": in_use + got, "local_ports_in_use": in_use + got,
            "port_use_pct": 100.0 * (in_use + got) / range_size, "port_range": [50000, 50000 + range_size - 1],
            "port_range_size": range_size, "tcp_tw_reuse": 0, "active_opens": 1000 + opens_total + background * s,
            "new_active": None if s == 0 else seen,
            "targets": {DB: {"address": "172.18.0.2:5432", "time_wait": in_use + got, "established": 0,
                             "syn_sent": 0, "local_ports": in_use + got, "new": None if s == 0 else seen}}})
        if failed:
            stamp = datetime.fromtimestamp(ts - 0.5, timezone.utc).replace(microsecond=0).timestamp()
            label = f"{EADDR} (toward {DB})" if errors_named else EADDR
            records.append({"ts": stamp, "source": "app_errors", "total": failed, "kinds": {label: failed}})
    return records


def only(records) -> port_budget.PortBudget:
    (budget,) = port_budget.compute(records)
    return budget


def test_direct_repro_runs_out_and_the_prediction_meets_the_first_error():
    # The incident in the lab: new connections toward the DB at 100/s, a 1,000-port range.
    b = only(simulate([100] * 15, 1000))
    assert (b.target, b.address, b.range_size) == (DB, "172.18.0.2:5432", 1000)
    assert b.sustainable_rate == pytest.approx(16.67, abs=0.01)
    assert b.new_connections == 1000 and b.failed_connections == 500  # ten seconds filled the range
    assert b.peak_rate == pytest.approx(100) and b.mean_rate == pytest.approx(100)
    assert b.ports_needed == 1500 and b.headroom == -500 and b.runs_out
    # Traffic began inside the first interval: the rate is judged from the
    # second sample of traffic on, when the budget crossed zero; the fill rate
    # then put the exhaustion where the first EADDRNOTAVAIL was logged.
    assert b.crossed_at == 2.0 and b.crossed_rate == pytest.approx(100)
    assert b.in_use_at_crossing == 200 and b.fill_rate == pytest.approx(100)
    assert b.predicted_exhaustion_at == pytest.approx(10.0)
    assert b.first_error_at == pytest.approx(10.0) and b.first_error_rate == pytest.approx(100)
    text = "\n".join(port_budget.lines([b]))
    assert "headroom -500" in text and "exhaustion predicted at 10.0 s" in text
    assert "first EADDRNOTAVAIL at 10.0 s" in text and "recycles 16.7 new connections/s" in text


def test_a_bounded_pool_warms_up_and_then_leaves_headroom():
    # gthread: its threads open their persistent connections once (a burst), then reuse them.
    b = only(simulate([150, 50] + [0] * 10, 1000))
    assert b.new_connections == 200 and b.failed_connections == 0
    assert b.ports_needed == 200 and b.headroom == 800 and not b.runs_out
    assert b.predicted_exhaustion_at is None and b.first_error_at is None
    assert "headroom 800" in port_budget.lines([b])[0]


def test_c500_is_fine_because_the_rate_stays_under_range_over_60s():
    # The seed's first observation: the default range recycles 28,232 / 60 = 470 new connections/s.
    steady = only(simulate([400] * 90, 28232))
    assert steady.sustainable_rate == pytest.approx(470.5, abs=0.1)
    assert steady.ports_needed == 24000 and steady.headroom == 4232 and steady.crossed_at is None
    over = only(simulate([520] * 90, 28232))
    assert over.runs_out and over.crossed_rate == pytest.approx(520, rel=0.01)
    assert over.first_error_at == pytest.approx(54.5, abs=1)  # 28,232 / 520 = 54.3 s
    assert over.predicted_exhaustion_at == pytest.approx(54.3, abs=1)


def test_ramp_reports_the_rate_when_the_budget_crossed_zero_and_when_errors_began():
    ramp = [50 + 30 * s for s in range(70)]  # 50 -> 2,120 new connections/s over 70 s
    b = only(simulate(ramp, 28232))
    # The budget crossed zero as the rate passed range / 60 (470/s), long before the range filled.
    assert 470 < b.crossed_rate < 470 + 5 * 30 and b.crossed_at < 20
    assert b.first_error_rate > 2 * b.crossed_rate and b.first_error_at > b.crossed_at + 15
    forecast = port_budget.lines([b])[1]
    assert forecast.startswith(f"toward {DB}: the budget crossed zero at")
    assert f"first EADDRNOTAVAIL at {b.first_error_at:.1f} s" in forecast


def test_activeopens_recovers_connections_the_sampler_did_not_see():
    # With tcp_tw_reuse a new connection can take over a 4-tuple seen last time:
    # the set comparison misses it, the namespace's ActiveOpens does not.
    b = only(simulate([100] * 5, 28232, missed=0.2))
    assert b.new_connections == 500 and b.peak_rate == pytest.approx(100, rel=0.01)


def test_the_health_checks_beside_a_bounded_pool_are_not_missed_connections():
    # gthread's 800 connections, all seen, at the start of a 23 s run beside one health check a second
    # (measured: ActiveOpens +812 over 798 seen took ports_needed to 811, over workers x threads)
    b = only(simulate([400, 398] + [0] * 21, 1000))
    assert b.new_connections == 798 and b.ports_needed == 798
    # more than the background's: missed ones, counted
    assert only(simulate([400, 398] + [0] * 21, 1000, background=3)).new_connections > 798


def test_an_unnamed_error_counts_toward_the_only_destination():
    b = only(simulate([500] * 4, 1000, errors_named=False))
    assert b.failed_connections == 1000 and b.first_error_at is not None


def test_no_netns_samples_no_budget():
    assert port_budget.compute([{"ts": T0, "source": "postgres", "client_backends": 3}]) == []


def test_the_verdict_and_run_json_carry_the_budget(tmp_path):
    evidence = simulate([500] * 6, 1000)
    db, ev = assemble.evidence_figures(evidence)
    assert ev.port_budget[0]["headroom"] == -2000
    record = run_record.RunRecord(run_id="r", app_settings={"CONN_MAX_AGE": "0", "WORKER_CLASS": "eventlet"},
                                  app_errors=[{"kind": EADDR, "target": DB, "count": 2000}], db=db, evidence=ev)
    run_record.write(tmp_path, record)
    back = run_record.read(tmp_path)
    assert port_budget.from_record(back.evidence.port_budget) == port_budget.compute(evidence)
    verdict = diagnosis.diagnose(diagnosis.facts_from_record(back, evidence))
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert any(line.startswith(f"port budget toward {DB}") and "headroom -2,000" in line for line in verdict.evidence)
    assert "exhaustion predicted" in verdict.text()


def test_a_sample_that_ends_before_the_range_does_is_healthy_so_far_and_says_the_budget_is_short():
    """A probe of a few seconds on the incident's load: nothing failed yet, but more new connections than the
    range within one TIME_WAIT. The headline says so, not only the evidence below it (a CI probe once ended
    2 s before the first error). Modelled as 150/s on a 2,000-port range read as 1,000 ports (the host's
    counters saw more connections than the range holds; a third of its ports already free again)."""
    def verdict(demand):
        evidence = simulate(demand, 2000, idle_after=0)
        for r in (r for r in evidence if r["source"] == "netns"):
            r.update(port_range=[50000, 50999], port_range_size=1000,
                     local_ports_in_use=r["local_ports_in_use"] * 2 // 3)
            r["targets"][DB]["local_ports"] = r["targets"][DB]["local_ports"] * 2 // 3
        facts = diagnosis.Facts(settings={"WORKER_CLASS": "eventlet", "CONN_MAX_AGE": "0"}, requests=1200,
                                failed=0, errors=[])
        return diagnosis.diagnose(diagnosis.facts_from_evidence(evidence, facts))

    short = verdict([150] * 8)
    assert short.case == diagnosis.HEALTHY and short.headline.startswith("healthy: 0 of 1,200 requests failed")
    assert short.headline.endswith(f"; but the port budget toward {DB} is short by 200 at this rate "
                                   "(exhaustion predicted at 10.0 s)"), short.headline
    assert "800 of 1,000 local ports in use at peak" in short.headline
    assert "but the port budget" not in verdict([10] * 8).headline  # the range recycles 16.7/s


# -- the sampler's part ---------------------------------------------------------
def test_the_sampler_counts_new_outgoing_sockets_per_target_and_reads_activeopens(tmp_path):
    snmp = tmp_path / "net" / "snmp"
    snmp.parent.mkdir(parents=True)
    snmp.write_text("Ip: Forwarding DefaultTTL\nIp: 1 64\n"
                    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\n"
                    "Tcp: 1 200 120000 -1 3329 2022\n")
    assert sockets.read_active_opens(str(tmp_path)) == 3329
    assert sockets.read_active_opens(str(tmp_path / "nowhere")) is None
    sysctls = {"port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0}
    targets = {DB: ("172.18.0.2", 5432), "pgbouncer:6432": ("172.18.0.3", 6432)}
    listen = [("0.0.0.0", 8000, "0.0.0.0", 0, "LISTEN")]
    served = [("172.18.0.5", 8000, "172.18.0.9", 40000 + i, "TIME_WAIT") for i in range(50)]  # passive: not ours
    first = [("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "TIME_WAIT") for i in range(10)]
    more = [("172.18.0.5", 50100 + i, "172.18.0.2", 5432, "ESTABLISHED") for i in range(5)]
    other = [("172.18.0.5", 50200, "172.18.0.7", 443, "SYN_SENT")]
    tracker = sockets.NewConnections()
    a = sockets.summarise(listen + served + first, sysctls, targets, ts=1.0, tracker=tracker, active_opens=10)
    assert a["new_active"] is None and a["targets"][DB]["new"] is None and a["active_opens"] == 10
    b = sockets.summarise(listen + served + first[5:] + more + other, sysctls, targets, ts=2.0, tracker=tracker,
                          active_opens=16)
    assert b["new_active"] == 6 and b["targets"][DB]["new"] == 5 and b["targets"]["pgbouncer:6432"]["new"] == 0
    # Without a tracker (one snapshot) the record is as it was.
    assert "new" not in sockets.summarise(first, sysctls, targets)["targets"][DB]


def test_the_long_running_sampler_reports_new_connections(tmp_path):
    """sockets.py as a process (the way the lab and the hosts run it): two samples, the second with deltas."""
    import subprocess

    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "tcp").write_text("  sl  local_address rem_address   st\n")
    (proc / "net" / "snmp").write_text("Tcp: ActiveOpens\nTcp: 7\n")
    out = subprocess.run([sys.executable, str(Path(sockets.__file__)), "--proc-root", str(proc), "--count", "2",
                          "--interval", "0.1", "--target", "127.0.0.1:5432"],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["targets"]["127.0.0.1:5432"]["new"] is None and first["active_opens"] == 7
    assert second["targets"]["127.0.0.1:5432"]["new"] == 0 and second["new_active"] == 0


def test_samples_without_new_connection_counts_give_no_budget():
    records = simulate([500] * 3, 1000)
    for r in records:
        if r["source"] == "netns":
            r["targets"][DB].pop("new")
    assert port_budget.compute(records) == []


def test_the_matrix_report_shows_the_headroom_and_links_the_dashboard(tmp_path):
    from churnlab.reports import html as html_report

    run_dir = tmp_path / "20261125T200000Z-direct-repro-ab-c100"
    run_dir.mkdir()
    evidence = simulate([500] * 6, 1000)
    run_record.write_evidence(run_dir / run_record.EVIDENCE, evidence)
    db, ev = assemble.evidence_figures(evidence)
    run_record.write(run_dir, run_record.RunRecord(run_id=run_dir.name, db=db, evidence=ev,
                                                   selection=run_record.Selection("direct", "repro")))
    (run_dir / run_record.DASHBOARD).write_text("<!doctype html><title>k6</title>")
    matrix_dir = tmp_path / "matrix-x"
    matrix_dir.mkdir()
    page = html_report.render(matrix_dir, [run_dir], "m").read_text()
    assert "<th>port headroom</th>" in page and "<td>-2,000 toward db:5432</td>" in page
    assert f'<a href="../{run_dir.name}/{run_record.DASHBOARD}">k6 dashboard</a>' in page
    assert (matrix_dir / f"../{run_dir.name}/{run_record.DASHBOARD}").is_file()
    summary = (matrix_dir / "summary.md").read_text()
    assert f"[k6 dashboard](../{run_dir.name}/{run_record.DASHBOARD})" in summary
    assert "headroom -2,000" in summary


def test_the_counter_read_racing_the_socket_table_adds_nothing():
    # Under load the counter and the table are read a few milliseconds apart:
    # per interval they disagree both ways, over the run they agree.
    records = simulate([100] * 8, 28232)
    netns = [r for r in records if r["source"] == "netns"]
    for r in netns[1:-1:2]:
        r["active_opens"] += 40
    assert only(records).new_connections == 800


def test_two_samples_at_the_same_instant_are_one():
    """A clock that stepped can give two netns samples the same timestamp: they count as one sample
    (new connections added), never a zero-second interval."""
    target = "db:5432"

    def sample(ts, new, in_use):
        return {"ts": ts, "source": "netns", "port_range_size": 1000, "local_ports_in_use": in_use,
                "targets": {target: {"new": new, "in_use": in_use, "time_wait": in_use}}}

    records = [sample(0.0, 0, 0), sample(1.0, 100, 100), sample(1.0, 50, 150), sample(2.0, 100, 250)]
    (budget,) = port_budget.compute(records)
    (same,) = port_budget.compute([sample(0.0, 0, 0), sample(1.0, 150, 150), sample(2.0, 100, 250)])
    assert budget.as_dict() == same.as_dict()
