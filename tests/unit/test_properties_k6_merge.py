"""Several k6 generators merged (churnlab.evidence.k6_merge) against k6's own figures over
the same samples: each generator writes its CSV and its handleSummary JSON the way k6
does (tests/unit/test_k6_merge.py's write_generator), and the merged percentiles must
be the ones one k6 would have computed over every request of the run.

k6's own percentile (the lab pins k6 1.1.0: metrics/sink.go, TrendSink.P) keeps every
sample, sorts them and interpolates linearly at rank p x (count - 1): it is exact, with
no tolerance of its own. The only difference allowed here is the CSV's: k6 writes
metric_value with Go's %f, six decimals, so each sample is off by at most 0.5e-6 ms, and
so is any interpolated percentile of them (TOLERANCE_MS)."""
from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from churnlab.evidence import k6_merge
from tests.unit.test_k6_merge import write_generator

TOLERANCE_MS = 1e-6  # the CSV's six decimals (0.5e-6 ms), and float rounding
T0 = 1_700_000_000
TRACKED = ("0", "200", "499")  # write_generator's tracked_status
SMOKE_MS = 99999  # write_generator's setup() request, outside the load's scenario: never in a percentile


def k6_trend_p(values: list[float], pct: float) -> float | None:
    """k6 1.1.0's TrendSink.P, as written in Go (None where k6 prints 0 for no sample)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    i = pct * (len(ordered) - 1.0)
    j, k = ordered[math.floor(i)], ordered[math.ceil(i)]
    return j + (k - j) * (i - math.floor(i))


durations = st.one_of(
    st.floats(0, 60_000, allow_nan=False, allow_subnormal=False),
    st.integers(0, 2_000).map(float),     # whole milliseconds: ties
    st.sampled_from([0.0, 1.5, 2000.0, 59_999.999999]),
)
failures = st.lists(st.sampled_from([("499", ""), ("503", ""), ("0", "dial tcp 172.18.0.4:8000: connect: "
                                                                      "cannot assign requested address"),
                                     ("0", "request timeout")]), max_size=5)


@st.composite
def runs(draw):
    """Every request of a run, shared out among 2 to 4 generators (each with one at least)."""
    every = draw(st.lists(durations, min_size=2, max_size=400))
    n = draw(st.integers(2, min(4, len(every))))
    cuts = sorted(draw(st.lists(st.integers(1, len(every) - 1), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [0, *cuts, len(every)]
    return [every[a:b] for a, b in zip(bounds, bounds[1:], strict=False)], [draw(failures) for _ in range(n)]


def _merged(shares: list[list[float]], fails: list[list[tuple[str, str]]]):
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        for i, (share, failed) in enumerate(zip(shares, fails, strict=True), 1):
            write_generator(run_dir / f"loadgen-{i}", share, T0 + i, failures=failed[:len(share)])
        return k6_merge.summarize(run_dir)


@given(run=runs())
@example(run=([[0.0, 10.0], [0.0, 10.0]], [[], []]))  # rank 0.95 x 3 = 2.85: between two generators' samples
@example(run=([[5.0] * 19, [900.0]], [[], []]))       # a slow generator's one request is the p95 of the run
def test_the_merged_percentiles_are_k6s_over_every_sample(run):
    shares, fails = run
    summary, per = _merged(shares, fails)
    every = [ms for share in shares for ms in share]
    for pct, got in ((0.50, summary.p50_ms), (0.90, summary.p90_ms), (0.95, summary.p95_ms), (0.99, summary.p99_ms)):
        assert abs(got - k6_trend_p(every, pct)) <= TOLERANCE_MS, (pct, got)
    # the same by another hand: the standard library's linear ("inclusive", R-7) quantiles
    assert abs(summary.p95_ms - statistics.quantiles(every, n=20, method="inclusive")[18]) <= TOLERANCE_MS
    assert abs(summary.max_ms - max(every)) <= TOLERANCE_MS and summary.max_ms < SMOKE_MS
    assert math.isclose(summary.avg_ms, statistics.fmean(every), rel_tol=1e-9, abs_tol=TOLERANCE_MS)
    assert summary.p50_ms <= summary.p90_ms <= summary.p95_ms <= summary.p99_ms <= summary.max_ms


@given(run=runs())
def test_counts_add_up_and_each_generator_has_its_line(run):
    shares, fails = run
    summary, per = _merged(shares, fails)
    failed = [f[:len(s)] for s, f in zip(shares, fails, strict=True)]
    assert summary.requests == sum(map(len, shares)) == sum(g["requests"] for g in per)
    assert [g["requests"] for g in per] == [len(s) for s in shares]
    assert [g["errors"] for g in per] == [len(f) for f in failed]
    statuses = {"200": sum(map(len, shares)) - sum(map(len, failed))}
    for status, _ in (x for f in failed for x in f):  # k6's summary counts the tracked ones; the rest: other
        key = status if status in TRACKED else "other"
        statuses[key] = statuses.get(key, 0) + 1
    assert {k: v for k, v in summary.status_counts.items() if v} == {k: v for k, v in statuses.items() if v}
    assert math.isclose(summary.error_rate, sum(map(len, failed)) / summary.requests, abs_tol=1e-12)
    eaddr = sum(1 for f in failed for _, error in f if "cannot assign" in error)
    assert sum(g["k6_errors"].get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0) for g in per) == eaddr
    assert math.isclose(summary.rps, sum(len(s) / 5 for s in shares))  # write_generator: a 5 s run each


@given(run=runs(), data=st.data())
def test_the_merge_does_not_depend_on_how_the_run_was_shared_out(run, data):
    shares, _ = run
    every = [ms for share in shares for ms in share]
    reshuffled = data.draw(st.permutations(every))
    cut = data.draw(st.integers(1, len(every) - 1))
    a, _ = _merged(shares, [[] for _ in shares])
    b, _ = _merged([reshuffled[:cut], reshuffled[cut:]], [[], []])
    assert (a.requests, a.max_ms) == (b.requests, b.max_ms)
    for pct in ("p50_ms", "p90_ms", "p95_ms", "p99_ms"):
        assert getattr(a, pct) == getattr(b, pct)
