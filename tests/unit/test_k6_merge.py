"""Several generators merged exactly: on synthetic k6 CSVs and summaries in
k6's own formats, the merged p95 is the p95 of the concatenated samples
(never an average of the generators' p95s), and the counts add up."""
import csv
import gzip
import json
import random
import statistics

from churnlab.core import run_record
from churnlab.evidence import k6_merge
from churnlab.evidence.k6_summary import parse

HEADER = ["metric_name", "timestamp", "metric_value", "check", "error", "error_code", "expected_response", "group",
          "method", "name", "proto", "scenario", "service", "status", "subproto", "tls_version", "url",
          "extra_tags", "metadata"]


def _row(metric, ts, value, status="200", error="", scenario="ab"):
    row = dict.fromkeys(HEADER, "")
    row.update(metric_name=metric, timestamp=str(ts), metric_value=f"{value:f}", scenario=scenario,
               status=status, error=error)
    return [row[h] for h in HEADER]


def write_generator(folder, durations, t0, failures=(), dropped=0):
    """What one k6 leaves: its CSV (a smoke request without scenario, then one
    request per duration) and its handleSummary JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    statuses = {"200": 0}
    with gzip.open(folder / k6_merge.METRICS, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerow(_row("http_reqs", t0, 1, scenario=""))           # setup()'s smoke request
        w.writerow(_row("http_req_duration", t0, 99999, scenario=""))
        for i, ms in enumerate(durations):
            status, error = failures[i] if i < len(failures) else ("200", "")
            statuses[status] = statuses.get(status, 0) + 1
            w.writerow(_row("http_reqs", t0 + i // 100, 1, status, error))
            w.writerow(_row("http_req_duration", t0 + i // 100, ms, status, error))
            w.writerow(_row("http_req_failed", t0 + i // 100, 0 if status == "200" else 1, status, error))
        if dropped:
            w.writerow(_row("dropped_iterations", t0 + 1, dropped, status=""))
    ordered = sorted(durations)
    failed = (len(durations) - statuses["200"]) / len(durations)
    metrics = {"http_reqs{scenario:ab}": {"values": {"count": len(durations), "rate": len(durations) / 5}},
               "http_req_failed{scenario:ab}": {"values": {"rate": failed}},
               "http_req_duration{scenario:ab}": {"values": {"med": statistics.median(ordered),
                                                             "p(95)": k6_merge.percentile(ordered, 0.95),
                                                             "max": ordered[-1]}}}
    for code, n in statuses.items():
        metrics[f"http_reqs{{scenario:ab,status:{code}}}"] = {"values": {"count": n}}
    (folder / k6_merge.SUMMARY).write_text(json.dumps({"metrics": metrics, "lab": {
        "scenario": "ab", "vus": 100, "keepalive": False, "tracked_status": ["0", "200", "499"]}}))


def test_percentile_is_k6s_linear_interpolation():
    assert k6_merge.percentile([], 0.95) is None
    assert k6_merge.percentile([7.0], 0.95) == 7.0
    assert k6_merge.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert k6_merge.percentile([0.0, 10.0], 0.95) == 9.5  # rank 0.95 x (2 - 1)


def test_segments_cover_the_run_once():
    assert k6_merge.segments(1) == [("0:1", "0,1")]
    assert k6_merge.segments(3) == [("0:1/3", "0,1/3,2/3,1"), ("1/3:2/3", "0,1/3,2/3,1"), ("2/3:1", "0,1/3,2/3,1")]


def test_two_generators_merge_exactly(tmp_path):
    rng = random.Random(12)
    fast = [rng.uniform(1, 20) for _ in range(600)]      # one generator sees a fast app...
    slow = [rng.uniform(100, 900) for _ in range(400)]   # ...the other a slow one: averaging p95s would lie
    write_generator(tmp_path / "loadgen-1", fast, 1_700_000_000,
                    failures=[("499", "")] * 5 + [("0", "dial tcp 172.18.0.4:8000: connect: cannot assign "
                                                        "requested address")] * 3)
    write_generator(tmp_path / "loadgen-2", slow, 1_700_000_001, dropped=7)
    summary, per = k6_merge.summarize(tmp_path, {"1": 99, "2": 0}, {"1": "0:1/2", "2": "1/2:1"},
                                      {"2": k6_merge.cpu_figures(3.0, 10.0, 2.0)})  # generator 1: not measured
    every = sorted(fast + slow)
    assert summary.requests == 1000 == sum(g["requests"] for g in per)
    assert abs(summary.p95_ms - k6_merge.percentile(every, 0.95)) < 1e-5
    assert abs(summary.p50_ms - k6_merge.percentile(every, 0.50)) < 1e-5
    assert abs(summary.p90_ms - k6_merge.percentile(every, 0.90)) < 1e-5
    assert abs(summary.p99_ms - k6_merge.percentile(every, 0.99)) < 1e-5
    assert abs(summary.avg_ms - sum(every) / len(every)) < 1e-5 and abs(summary.max_ms - max(every)) < 1e-5
    p95s = [parse(tmp_path / f"loadgen-{i}" / k6_merge.SUMMARY).p95_ms for i in (1, 2)]
    assert abs(summary.p95_ms - statistics.mean(p95s)) > 100  # what averaging would have said
    assert summary.status_counts == {"200": 992, "499": 5, "0": 3}
    assert abs(summary.error_rate - 8 / 1000) < 1e-9 and summary.rps == 200.0  # 600/5 + 400/5: rates add
    assert per[0] | {"first_request": None} == {
        "name": "1", "segment": "0:1/2", "requests": 600, "errors": 8, "dropped_iterations": 0, "rps": 120.0,
        "k6_errors": {k6_merge.LOADGEN_EADDRNOTAVAIL: 3}, "first_request": None, "exit_code": 99,
        "cpu_s": None, "cpu_cores": None, "cpu_busy": None, "cpu_throttled": None, "summary_problem": ""}
    assert (per[1]["cpu_s"], per[1]["cpu_cores"], per[1]["cpu_busy"]) == (3.0, 2.0, 0.15)
    assert per[1]["dropped_iterations"] == 7 and per[1]["k6_errors"] == {} and per[1]["exit_code"] == 0
    assert per[0]["first_request"] == 1_700_000_000 and per[1]["first_request"] == 1_700_000_001
    # The run folder gets one CSV with every row of both (the timeline reads it), header once.
    with gzip.open(tmp_path / k6_merge.METRICS, "rt", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER and HEADER not in rows[1:]
    assert sum(1 for r in rows if r[0] == "http_reqs" and r[11]) == 1000


def test_one_generator_keeps_k6s_own_summary(tmp_path):
    write_generator(tmp_path, [5.0, 6.0, 7.0, 800.0], 1_700_000_000)
    summary, per = k6_merge.summarize(tmp_path)
    assert summary == parse(tmp_path / k6_merge.SUMMARY)
    assert [g["requests"] for g in per] == [4] and per[0]["name"] == "1"
    assert not (tmp_path / "loadgen-1").exists()


def test_a_generator_without_summary_leaves_no_merged_summary(tmp_path):
    write_generator(tmp_path / "loadgen-1", [5.0] * 10, 1_700_000_000)
    (tmp_path / "loadgen-2").mkdir()
    summary, per = k6_merge.summarize(tmp_path)
    assert summary is None and [g["requests"] for g in per] == [10, 0]


def test_k6_errors_by_kind():
    assert k6_merge.k6_error_kind("dial tcp 172.18.0.4:8000: connect: cannot assign requested address") == \
        k6_merge.LOADGEN_EADDRNOTAVAIL
    assert k6_merge.k6_error_kind("dial tcp 10.0.0.1:80: connect: connection refused").startswith("ECONNREFUSED")
    assert k6_merge.k6_error_kind("read tcp 1.2.3.4:5->6.7.8.9:80: read: connection reset by peer") \
        .startswith("ECONNRESET")
    assert k6_merge.k6_error_kind("request timeout") == "timeout"
    # what k6 1.1.0 wrote when its container had no port left (measured)
    assert k6_merge.k6_error_kind("dial: unknown errno 99 error with msg `cannot assign requested address`") == \
        k6_merge.LOADGEN_EADDRNOTAVAIL


def test_old_run_json_without_loadgens_still_opens(tmp_path):
    (tmp_path / run_record.RUN_JSON).write_text(json.dumps({
        "run_id": "r", "schema_version": 2, "load": {"scenario": "ab", "vus": 5, "iterations": 5}}))
    record = run_record.read(tmp_path)
    assert record.load.loadgens == 1 and record.load.per_loadgen == [] and record.load.loadgen_port_range == ""


def test_rates_are_over_the_loads_own_seconds_not_the_start_wait(tmp_path):
    for i, seconds in ((1, 3.0), (2, None)):
        write_generator(tmp_path / f"loadgen-{i}", [5.0] * 600, 1_700_000_000)
        path = tmp_path / f"loadgen-{i}" / k6_merge.SUMMARY
        data = json.loads(path.read_text())
        data["lab"]["load_seconds"] = seconds
        path.write_text(json.dumps(data))
    summary, per = k6_merge.summarize(tmp_path)
    assert [g["rps"] for g in per] == [200.0, 120.0]  # 600 / 3 s; without load_seconds, k6's own rate
    assert summary.rps == 320.0


def test_a_csv_cut_short_by_a_killed_k6_is_read_as_far_as_it_goes(tmp_path):
    write_generator(tmp_path / "loadgen-1", [5.0] * 300, 1_700_000_000)
    (tmp_path / "loadgen-2").mkdir()
    whole = (tmp_path / "loadgen-1" / k6_merge.METRICS).read_bytes()
    (tmp_path / "loadgen-2" / k6_merge.METRICS).write_bytes(whole[: len(whole) // 2])
    (tmp_path / "loadgen-2" / "k6.rc").write_text("137\n")
    samples = k6_merge.read_samples(tmp_path / "loadgen-2" / k6_merge.METRICS)
    assert samples.truncated and 0 <= samples.requests < 300
    summary, per = k6_merge.summarize(tmp_path)
    assert summary is None and per[0]["requests"] == 300  # no summary from the killed one: no merged summary


def test_a_generator_timed_by_bash_on_a_host_gets_its_cpu_figures(tmp_path):
    (tmp_path / k6_merge.TIME).write_text("20.00 15.50 2.50\n2\n")
    assert k6_merge.read_time(tmp_path / k6_merge.TIME) == {"cpu_s": 18.0, "cpu_cores": 2.0, "cpu_busy": 0.45,
                                                             "cpu_throttled": None}
    (tmp_path / k6_merge.TIME).write_text("garbled\n")
    assert k6_merge.read_time(tmp_path / k6_merge.TIME) == {}
    assert k6_merge.read_time(tmp_path / "absent") == {}
