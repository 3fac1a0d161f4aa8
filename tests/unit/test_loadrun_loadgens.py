"""LOADGENS=n through loadrun's one code path: n k6 stand-ins start at once,
each with its segment and its own folder, each container removed by name,
one record; one generator that fails fails the run. The faked boundary is
our own Stack (tests/unit/test_loadrun_record.py's FakeStack)."""
import json
import sys

import pytest

from churnlab.core import run_record
from churnlab.core.errors import LabError
from churnlab.load import run as loadrun
from tests.unit.test_loadrun_record import SUMMARY, FakeStack, lab  # noqa: F401 - the fixture


@pytest.fixture(autouse=True)
def no_containers(monkeypatch):
    """The CPU meter's boundary (docker ps): no lab container runs in a unit test."""
    from churnlab.compose import cpu_meter

    monkeypatch.setattr(cpu_meter, "listing", lambda: [])


def k6_stand_in(fail_segment: str | None = None) -> str:
    """Reads its -e RESULTS_DIR=... and --execution-segment from its argv, as k6 gets them,
    writes its summary there (under the mounted RUN_DIR) and exits 99; 107 on fail_segment."""
    return "\n".join([
        "import json, os, sys",
        "args = sys.argv[1:]",
        "env = dict(a.split('=', 1) for a in args if a.startswith(('RESULTS_DIR=', 'START_AT=')))",
        "seg = args[args.index('--execution-segment') + 1]",
        "assert 'START_AT' in env and '--execution-segment-sequence' in args, args",
        f"if seg == {fail_segment!r}:",
        "    print('smoke check failed'); sys.exit(107)",
        "folder = os.path.join(os.environ['RUN_DIR'], env['RESULTS_DIR'].removeprefix('/results').lstrip('/'))",
        f"open(os.path.join(folder, 'k6-summary.json'), 'w').write(json.dumps({SUMMARY!r}))",
        "sys.exit(99)"])


class SegmentStack(FakeStack):
    def argv(self, *args):
        return [sys.executable, "-c", self.k6_code, *args]


def test_three_generators_one_record(lab):  # noqa: F811
    result = loadrun.run(SegmentStack(k6_stand_in()), loadrun.LoadParams(vus=50, iterations=500, loadgens=3))
    record = run_record.read(result.run_dir)
    assert record.status == run_record.FINISHED and record.load.loadgens == 3
    assert [(g["name"], g["segment"], g["requests"], g["exit_code"]) for g in record.load.per_loadgen] == [
        ("1", "0:1/3", 500, 99), ("2", "1/3:2/3", 500, 99), ("3", "2/3:1", 500, 99)]
    assert record.summary["requests"] == 1500  # the stand-ins each claim 500: counts add up
    assert len(lab) == 3 and len(set(lab)) == 3  # each container removed by its own name
    assert all((result.run_dir / f"loadgen-{i}" / "k6.log").is_file() for i in (1, 2, 3))


def test_one_failed_generator_fails_the_run(lab):  # noqa: F811
    with pytest.raises(LabError, match=r"\[loadgen 2\] smoke check failed"):
        loadrun.run(SegmentStack(k6_stand_in("1/2:1")), loadrun.LoadParams(vus=50, iterations=500, loadgens=2))
    (run_dir,) = [p for p in loadrun.RESULTS_DIR.iterdir() if p.is_dir()]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["summary"] is None
    assert record["problems"][0] == "k6 on loadgen 2 failed (exit 107): smoke check failed", record["problems"]
    assert len(lab) == 2
