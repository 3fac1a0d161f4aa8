"""Several load generators, merged exactly, and a generator that runs out,
on one healthy gthread stack with small loads.

LOADGENS=2: each k6 container takes its execution segment of the same run,
they begin together, their counts add up to ITERATIONS, and the merged p95
is the p95 of the two CSVs' samples concatenated (read here independently).
A generator given 10 ports of its own against the healthy app gets the
verdict "measurement not valid", not a verdict about the app; so does one
given a tenth of a CPU (LOADGEN_CPUS=0.1)."""
import csv
import gzip
import json

import pytest

from churnlab import diagnosis
from churnlab.evidence import k6_merge, timeline
from churnlab.load import run as loadrun

pytestmark = pytest.mark.e2e


def _durations(path):
    with gzip.open(path, "rt", newline="") as f:
        return [float(row["metric_value"]) for row in csv.DictReader(f)
                if row["metric_name"] == "http_req_duration" and row["scenario"]]


def _p95(values):
    ordered = sorted(values)
    i = 0.95 * (len(ordered) - 1)
    low, high = ordered[int(i)], ordered[min(int(i) + 1, len(ordered) - 1)]
    return low + (high - low) * (i - int(i))


def test_two_generators_share_one_run_and_merge_exactly(gthread_stack):
    result = loadrun.run(gthread_stack, loadrun.LoadParams(vus=100, iterations=3000, loadgens=2))
    record = json.loads((result.run_dir / "run.json").read_text())
    per = record["load"]["per_loadgen"]
    assert record["load"]["loadgens"] == 2 and [g["segment"] for g in per] == ["0:1/2", "1/2:1"]
    assert sum(g["requests"] for g in per) == 3000 and all(g["requests"] > 0 for g in per), per
    assert record["summary"]["requests"] == 3000 and record["status"] == "finished"
    assert abs(per[0]["first_request"] - per[1]["first_request"]) <= 1, per  # they began together
    samples = [*_durations(result.run_dir / "loadgen-1" / k6_merge.METRICS),
               *_durations(result.run_dir / "loadgen-2" / k6_merge.METRICS)]
    assert len(samples) == 3000
    assert abs(record["summary"]["p95_ms"] - _p95(samples)) < 1e-6
    assert record["summary"]["max_ms"] == max(samples)
    assert result.verdict.case == diagnosis.HEALTHY, result.verdict.headline
    assert all(g["cpu_cores"] >= 1 and 0 < g["cpu_busy"] < diagnosis.LOADGEN_CPU_BUSY
               and g["cpu_throttled"] is None for g in per), per  # no limit: never throttled
    assert sum(timeline.load(result.run_dir).rps.values()) == 3000  # the merged CSV feeds the timeline


def test_a_generator_out_of_its_own_ports_is_caught_not_blamed_on_the_app(gthread_stack):
    params = loadrun.LoadParams(vus=100, iterations=2000, loadgen_port_range="60000 60009")
    result = loadrun.run(gthread_stack, params)
    (gen,) = result.record.load.per_loadgen
    assert gen["k6_errors"].get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0) > 0, gen
    assert result.errors == []  # the app itself logged no failure
    assert result.verdict.case == diagnosis.LOADGEN_LIMITED
    assert result.verdict.headline.startswith("measurement not valid")
    assert "make load LOADGENS=2" in [f.shown_by for f in result.verdict.fixes]
    assert result.record.load.loadgen_port_range == "60000 60009"


def test_a_generator_short_of_cpu_is_caught_not_blamed_on_the_app(gthread_stack):
    result = loadrun.run(gthread_stack, loadrun.LoadParams(vus=20, iterations=1000, loadgen_cpus="0.1"))
    (gen,) = result.record.load.per_loadgen
    assert gen["cpu_cores"] == 0.1 and gen["cpu_throttled"] >= diagnosis.LOADGEN_CPU_THROTTLED, gen
    assert result.errors == [] and result.record.load.loadgen_cpus == "0.1"
    assert result.verdict.case == diagnosis.LOADGEN_LIMITED
    assert "k6 was short of CPU: busy" in result.verdict.headline, result.verdict.headline
    assert "(the CPU it could use: LOADGEN_CPUS=0.1)" in result.verdict.headline
