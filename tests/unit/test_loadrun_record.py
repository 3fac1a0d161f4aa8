"""loadrun writes run.json whatever happens: versions that fail, a sampler
that fails, Ctrl-C. The boundaries faked are our own: Stack (the docker
compose wrapper: its argv runs a small Python stand-in for k6) and the
evidence recorder."""
import json
import signal
import subprocess
import sys

import pytest

from churnlab.core import catalog, run_record
from churnlab.load import run as loadrun


@pytest.fixture(autouse=True)
def no_containers(monkeypatch):
    """The CPU meter's boundary (docker ps): no lab container runs in a unit test."""
    from churnlab.compose import cpu_meter

    monkeypatch.setattr(cpu_meter, "listing", lambda: [])

EADDR_LINE = ('2026-11-24 21:37:05,000 ERROR roles healthz-db-error OperationalError: connection to server at '
              '"db" (172.18.0.2), port 5432 failed: Cannot assign requested address')
SUMMARY = {"metrics": {
    "http_reqs{scenario:ab}": {"values": {"count": 500, "rate": 250.0}},
    "http_req_failed{scenario:ab}": {"values": {"rate": 0.2}},
    "http_req_duration{scenario:ab}": {"values": {"med": 5, "p(95)": 40, "p(99)": 80, "max": 99}},
    "http_reqs{scenario:ab,status:200}": {"values": {"count": 400}},
    "http_reqs{scenario:ab,status:499}": {"values": {"count": 100}}},
    "lab": {"scenario": "ab", "vus": 50, "keepalive": False, "tracked_status": ["200", "499"]}}
# Stand-ins for `docker compose run k6`: they write what k6 writes, or are interrupted.
K6_OK = ("import json, os, sys; open(os.path.join(os.environ['RUN_DIR'], 'k6-summary.json'), 'w')"
         f".write(json.dumps({SUMMARY!r})); print('k6 done'); sys.exit(99)")
K6_CTRL_C = "import os, signal, time; os.kill(os.getppid(), signal.SIGINT); time.sleep(30)"


class FakeStack:
    def __init__(self, k6_code: str, front: str = "none"):
        self.selection = catalog.Selection.of("direct", "repro")
        self.k6_code = k6_code
        self.front = front
        self.front_keepalive = 0

    def target(self):
        return {"none": "http://app:8000", "https": "https://front:8443"}[self.front]

    def env(self):
        return {"PATH": "/usr/bin:/bin"}

    def argv(self, *args):
        return [sys.executable, "-c", self.k6_code]

    def run(self, *args, capture=False, check=True, **kw):
        out = "\n".join([EADDR_LINE] * 3) + "\n" if args[0] == "logs" else ""
        return subprocess.CompletedProcess(args, 0, stdout=out, stderr="")

    def app_settings(self):
        return {"WORKER_CLASS": "eventlet", "WORKERS": "6", "CONN_MAX_AGE": "0", "DB_HOST": "db", "DB_PORT": "5432"}

    def running_services(self):
        return ["app", "db"]

    def exec(self, service, *cmd, timeout=30):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr=f"{service} is not running")

    def config(self, *profiles):
        raise OSError("compose config failed")


class FakeRecorder:
    """Writes samples out of order, as threads do, and reports a failed sampler."""

    def __init__(self, stack, out, interval=1.0):
        self.out = out
        self.errors = ["netns sampler stopped: boom"]

    def __enter__(self):
        now = __import__("time").time()
        records = [{"ts": now + 0.5, "source": "postgres", "client_backends": 9, "by_state": {},
                    "max_connections": 100}, {"ts": now - 5, "source": "postgres", "client_backends": 3,
                                              "by_state": {}, "max_connections": 100}]
        self.out.write_text("".join(json.dumps(r) + "\n" for r in records))
        return self

    def __exit__(self, *exc):
        return None


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    removed = []
    monkeypatch.setattr(loadrun, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(loadrun, "EvidenceRecorder", FakeRecorder)
    monkeypatch.setattr(loadrun.k6, "remove_container", removed.append)
    return removed


PARAMS = loadrun.LoadParams(vus=50, iterations=500)


def test_run_json_is_written_when_versions_and_a_sampler_fail(lab):
    result = loadrun.run(FakeStack(K6_OK), PARAMS)
    record = run_record.read(result.run_dir)
    assert record.status == run_record.FINISHED and record.summary["requests"] == 500
    assert any(p.startswith("versions: the app failed") for p in record.problems), record.problems
    assert any("compose config failed" in p for p in record.problems), record.problems
    assert "netns sampler stopped: boom" in record.problems
    assert record.app_errors[0]["count"] == 3 and record.db.peak_client_backends == 9
    assert record.verdict["case"] == "port-exhaustion-postgres"
    stamps = [r["ts"] for r in run_record.read_evidence(result.run_dir / "evidence.jsonl")]
    assert stamps == sorted(stamps) and len(stamps) == 3  # two samples and one second of app errors
    assert len(lab) == 1 and lab[0].startswith("churnlab-k6-")  # the k6 container is removed by name


def test_a_run_behind_the_https_front_records_the_front_and_its_target(lab):
    result = loadrun.run(FakeStack(K6_OK, front="https"), PARAMS)
    record = run_record.read(result.run_dir)
    assert (record.selection.front, record.load.target) == ("https", "https://front:8443")
    assert record.selection.front_keepalive == 0
    assert result.run_id.endswith("-https")
    plain = run_record.read(loadrun.run(FakeStack(K6_OK), PARAMS).run_dir)
    assert (plain.selection.front, plain.load.target) == ("none", "http://app:8000")


def test_ctrl_c_writes_an_interrupted_record_and_removes_k6(lab, tmp_path):
    # Ctrl-C raises KeyboardInterrupt here, as in a terminal, even when this test
    # runs in a background job (which starts with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loadrun.run(FakeStack(K6_CTRL_C), PARAMS)
    finally:
        signal.signal(signal.SIGINT, previous)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = run_record.read(run_dir)
    assert record.status == run_record.INTERRUPTED and record.summary is None and record.verdict is None
    assert "interrupted (Ctrl-C) during the load" in record.problems
    # removed as soon as k6 was stopped (before the live panel drains its last lines), and again by the run's
    # cleanup, which removes whatever is left: one container, by name
    assert len(set(lab)) == 1 and lab[0].startswith("churnlab-k6-")


def test_a_failed_k6_is_recorded_then_reported(lab, tmp_path):
    from churnlab.core.errors import LabError

    with pytest.raises(LabError, match="k6 failed"):
        loadrun.run(FakeStack("import sys; print('smoke check failed'); sys.exit(107)"), PARAMS)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = run_record.read(run_dir)
    assert record.status == run_record.FAILED
    assert any(p.startswith("k6 failed (exit 107)") for p in record.problems), record.problems


def test_k6_stopped_by_ctrl_c_marks_the_run_interrupted(lab, tmp_path):
    """The Ctrl-C reached k6 (exit 130) but not this process (SIGINT ignored, as in a background job)."""
    with pytest.raises(KeyboardInterrupt):
        loadrun.run(FakeStack("import sys; sys.exit(130)"), PARAMS)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert run_record.read(run_dir).status == run_record.INTERRUPTED


def test_a_ctrl_c_that_k6_answered_with_255_is_still_interrupted(lab, tmp_path):
    """SIGINT came in ignored (a background job, as CI starts the tests), and the Ctrl-C reached the
    whole group: `docker compose run` may exit 255, not 130, when it loses the race with its container
    (once in a CI run). The run's own handler saw the Ctrl-C, so the run is interrupted, not failed."""
    k6_255 = "import os, signal, sys; os.kill(os.getppid(), signal.SIGINT); sys.exit(255)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            loadrun.run(FakeStack(k6_255), PARAMS)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # given back as it came in
    finally:
        signal.signal(signal.SIGINT, previous)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = run_record.read(run_dir)
    assert record.status == run_record.INTERRUPTED, record.problems
    assert not any(p.startswith("k6 failed") for p in record.problems), record.problems


def test_a_truncated_k6_summary_is_recorded_as_failed_with_its_reason(lab, tmp_path):
    """k6 exits 99 (ran to its end) but its summary was cut short: run.json is still written, failed,
    naming the summary; the command says so in one line instead of a summary table."""
    from churnlab.core.errors import LabError

    cut = ("import os, sys; open(os.path.join(os.environ['RUN_DIR'], 'k6-summary.json'), 'w')"
           ".write('{\"metrics\": {\"http_r'); sys.exit(99)")
    with pytest.raises(LabError, match="its summary gave no figures .k6-summary.json is cut short or damaged"):
        loadrun.run(FakeStack(cut), PARAMS)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = run_record.read(run_dir)
    assert record.status == run_record.FAILED and record.summary is None and record.verdict is None
    assert any(p.startswith("k6: k6-summary.json is cut short or damaged") for p in record.problems)
