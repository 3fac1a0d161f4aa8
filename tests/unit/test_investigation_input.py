"""Bad input to the investigation commands: a clear message, nothing started."""
import pytest

from churnlab.core.errors import LabError
from churnlab.reports import matrix


@pytest.mark.parametrize("variants,profiles,levels,message", [
    (["direct", "warp"], ["repro"], [10], "unknown variant 'warp'"),
    (["direct"], ["repro", "fast"], [10], "unknown profile 'fast'"),
    (["direct"], ["repro"], [0], "VUS levels must be >= 1"),
    ([], ["repro"], [10], "at least one variant"),
])
def test_matrix_plan_refuses_bad_input(variants, profiles, levels, message):
    with pytest.raises(LabError, match=message):
        matrix.plan(variants, profiles, levels)


def test_matrix_plan_is_the_cross_product():
    plan = matrix.plan(["direct", "gthread"], ["repro", "tuned"], [100, 500])
    assert len(plan) == 8 and ("gthread", "tuned", 500) in plan
