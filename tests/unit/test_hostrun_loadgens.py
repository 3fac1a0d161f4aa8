"""Two load generator hosts: hostrun merges their fetched folders exactly
(loadgen-<host>/ each, as load.yml fetches them) into one run.json."""
from churnlab.core import run_record
from churnlab.evidence import k6_merge
from churnlab.hosts import run as hostrun
from tests.unit.test_hostrun import fetched
from tests.unit.test_k6_merge import write_generator


def test_two_generator_hosts_make_one_merged_record(tmp_path):
    fetch = fetched(tmp_path, segments={"loadgen1": "0:1/2", "loadgen2": "1/2:1"})
    write_generator(fetch / "loadgen-loadgen1", [float(i % 50) for i in range(5000)], 1_764_020_226)
    write_generator(fetch / "loadgen-loadgen2", [float(100 + i % 70) for i in range(5000)], 1_764_020_226)
    (fetch / "loadgen-loadgen1" / "k6.rc").write_text("0\n")
    (fetch / "loadgen-loadgen2" / "k6.rc").write_text("99\n")
    record, _ = hostrun.finish(fetch)
    run = run_record.read(tmp_path / record.run_id)
    assert run.status == run_record.FINISHED and run.load.loadgens == 2
    assert [(g["name"], g["segment"], g["requests"], g["exit_code"]) for g in run.load.per_loadgen] == [
        ("loadgen1", "0:1/2", 5000, 0), ("loadgen2", "1/2:1", 5000, 99)]
    assert run.summary["requests"] == 10000
    every = sorted([float(i % 50) for i in range(5000)] + [float(100 + i % 70) for i in range(5000)])
    assert abs(run.summary["p95_ms"] - k6_merge.percentile(every, 0.95)) < 1e-6
    assert (tmp_path / record.run_id / k6_merge.METRICS).is_file()  # merged, for the timeline


def test_a_generator_host_that_failed_fails_the_run(tmp_path):
    fetch = fetched(tmp_path)
    write_generator(fetch / "loadgen-loadgen1", [5.0] * 100, 1_764_020_226)
    (fetch / "loadgen-loadgen1" / "k6.rc").write_text("0\n")
    (fetch / "loadgen-loadgen2").mkdir()
    (fetch / "loadgen-loadgen2" / "k6.log").write_text("ERRO[0000] smoke check failed\n")
    (fetch / "loadgen-loadgen2" / "k6.rc").write_text("107\n")
    record, _ = hostrun.finish(fetch)
    assert record.status == run_record.FAILED and record.summary is None
    assert "k6 on loadgen2 failed (exit 107): ERRO[0000] smoke check failed" in record.problems
