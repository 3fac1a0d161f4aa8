"""`make rank` on a reduced set: two fixes, one level, a small load, no repro
check (about 1.5 min). Its files are written and its order follows its numbers."""
import json

import pytest

from churnlab.core.paths import RESULTS_DIR
from churnlab.reports import rank
from tests.helpers import make

pytestmark = pytest.mark.e2e


def test_make_rank_on_two_fixes_writes_its_files_in_the_order_of_its_numbers(built):
    before = set(RESULTS_DIR.glob("rank-*"))
    make("rank", "RANK_VARIANTS=gthread+default pgbouncer-local+default", "RANK_LEVELS=300", "RANK_ITERATIONS=1000",
         "RANK_REPRO=0", check=True)
    [rank_dir] = set(RESULTS_DIR.glob("rank-*")) - before
    data = json.loads((rank_dir / "rank.json").read_text())
    assert (rank_dir / "rank.md").read_text().startswith("# Which fix to pick")
    page = (rank_dir / "report.html").read_text()
    assert "Which fix to pick" in page and "<script src=" not in page  # offline: plotly.js inlined
    assert data["machine"]["cores"] and data["versions"].get("postgres") and data["stopped"] is None
    assert sorted(data["order"]) == ["gthread+default", "pgbouncer-local+default"]
    for c in data["candidates"]:
        [level] = c["levels"]
        assert level["vus"] == 300 and level["ping"]["requests"] == level["healthz"]["requests"] == 1000
        ping_ok = level["ping"]["error_rate"] == 0  # a ping run with errors is no ceiling: no ratio
        assert level["ratio"] == (round(level["healthz"]["rps"] / level["ping"]["rps"], 3) if ping_ok else None)
        assert level["healthz"]["cpu_s"].get("app", 0) > 0 and level["healthz"]["cpu_s"].get("k6", 0) > 0
    # The order is the rule applied to the figures written, nothing else.
    keys = [(c["summary"]["max_error_rate"] > 0, c["repro"].get("holds") is False,
             -(c["summary"]["min_ratio"] or 0.0))
            for c in data["candidates"]]
    assert keys == sorted(keys) and data["order"] == [c["name"] for c in data["candidates"]]
    assert data["recommended"] == data["order"][0]
    assert data["rule"] == rank.RULE  # the rule itself is pinned by tests/unit/test_rank.py
