"""Properties of the port budget (churnlab.evidence.port_budget) against a kernel of its
own: tests/unit/test_port_budget.py's simulate() holds each port 60 s in TIME_WAIT and
refuses a connect() (EADDRNOTAVAIL) when the range is full, and writes the records the
sampler and the app's log would. For any demand, any range: the budget counts what the
kernel gave and refused, needs the most asked for within any 60 s, runs out exactly when
the kernel refused one, and does not depend on the records' order or on the clock's zero."""
from __future__ import annotations

import random

from hypothesis import example, given
from hypothesis import strategies as st

from churnlab.evidence import port_budget
from tests.unit.test_port_budget import DB, T0, simulate

demands = st.lists(st.one_of(st.integers(0, 60), st.integers(0, 2_000), st.just(0)), min_size=1, max_size=150)
ranges = st.one_of(st.integers(1, 3_000), st.sampled_from([1_000, 28_232, 64_512]))


def _kernel(records: list[dict]) -> tuple[int, int | None]:
    """What simulate()'s kernel refused: how many connects, and the sample of the first refusal."""
    refused = [r for r in records if r["source"] == "app_errors"]
    first = round(min(r["ts"] for r in refused) - T0) + 1 if refused else None  # logged in the second before
    return sum(r["total"] for r in refused), first


def _most_within_time_wait(demand: list[int]) -> int:
    width = int(port_budget.TIME_WAIT_SECONDS)
    return max(sum(demand[i:i + width]) for i in range(len(demand)))


def _only(records: list[dict]) -> port_budget.PortBudget:
    (budget,) = port_budget.compute(records)
    return budget


@given(demand=demands, size=ranges, missed=st.sampled_from([0.0, 0.1, 0.3]))
@example(demand=[100] * 15, size=1000, missed=0.0)  # the incident in the lab (test_port_budget.py)
@example(demand=[1001], size=1000, missed=0.0)      # one second over the range
def test_the_budget_counts_what_the_kernel_gave_and_refused(demand, size, missed):
    records = simulate(demand, size, missed=missed)
    refused, first_refusal = _kernel(records)
    b = _only(records)
    assert (b.target, b.range_size, b.sustainable_rate) == (DB, size, round(size / 60, 2))
    assert b.failed_connections == refused
    assert b.new_connections == sum(demand) - refused  # what the sampler missed, ActiveOpens gave back
    if missed == 0.0:
        assert b.ports_needed == _most_within_time_wait(demand)
    assert b.headroom == size - b.ports_needed
    assert b.runs_out == (refused > 0)  # the range ran out exactly when the kernel refused a connect()
    if refused:
        assert b.first_error_at == first_refusal - 1  # the start of the second it was logged in
    else:
        assert b.first_error_at is None and b.first_error_rate is None and b.predicted_exhaustion_at is None
    assert b.t0 == T0


@given(demand=demands, size=ranges)
def test_a_crossing_is_a_rate_the_range_cannot_recycle_and_a_forecast_follows_it(demand, size):
    b = _only(simulate(demand, size))
    if b.crossed_at is None:
        assert b.crossed_rate is None and b.predicted_exhaustion_at is None
    else:
        assert b.crossed_rate * port_budget.TIME_WAIT_SECONDS >= size - 3  # the rate, rounded to 0.1/s
        assert 0 <= b.crossed_at <= len(demand) + 3
    if b.predicted_exhaustion_at is not None:
        assert b.runs_out and b.crossed_at is not None and b.predicted_exhaustion_at >= b.crossed_at
        assert b.fill_rate > 0 and b.in_use_at_crossing is not None
    lines = port_budget.lines([b])
    assert lines and lines[0].startswith(f"port budget toward {DB}") and all("\n" not in line for line in lines)


@given(demand=demands, size=ranges, seed=st.integers(0, 2**32 - 1), shift=st.integers(-10**6, 10**6))
def test_the_budget_does_not_depend_on_the_records_order_or_the_clocks_zero(demand, size, seed, shift):
    records = simulate(demand, size)
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    moved = [{**r, "ts": r["ts"] + shift} for r in records]
    budget = _only(records)
    assert _only(shuffled) == budget
    assert _only(moved) == port_budget.PortBudget(**{**budget.as_dict(), "t0": T0 + shift})



@given(demand=demands, size=ranges)
@example(demand=[150, 50] + [0] * 10, size=1000)  # gthread's warm-up: read "50/s at peak, 100/s mean"
@example(demand=[1], size=1000)                    # one connection: read "0/s at peak, 1/s mean"
def test_the_peak_rate_is_never_below_the_mean_nor_the_crossing(demand, size):
    b = _only(simulate(demand, size))
    assert b.peak_rate >= b.mean_rate and b.peak_rate >= (b.crossed_rate or 0), port_budget.lines([b])[0]
    assert b.peak_rate <= max(demand)  # no window of a second or more asks for more than its busiest second
