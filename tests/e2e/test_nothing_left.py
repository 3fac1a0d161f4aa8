"""Nothing left behind on the real lab: no sampler inside the app container
after a load and diagnoses, and Ctrl-C during a load leaves no k6 container
and a run marked interrupted. Small loads (50 VUs), one default stack for all,
which also shows the default db: PostgreSQL 14, recorded in run.json."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from churnlab import catalog, lab, loadrun, run_record
from churnlab.evidence.recorder import MARKER_PREFIX, processes_with_marker
from churnlab.paths import RESULTS_DIR, ROOT
from tests.helpers import clean_env

pytestmark = pytest.mark.e2e

# Any sockets.py in the container, with or without a marker: its docstring is in its argv (python3 -c).
SAMPLER_TEXT = "Sample the TCP state of this network namespace"


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def k6_containers() -> list[str]:
    proc = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=churnlab",
                           "--filter", "label=com.docker.compose.service=k6", "--format", "{{.Names}}"],
                          capture_output=True, text=True, check=True)
    return proc.stdout.split()


def new_runs(before: set) -> list:
    return sorted(set(RESULTS_DIR.glob("*/run.json")) - before)


@pytest.fixture(scope="module")
def stack(built):
    lab.down()
    yield lab.up(catalog.Selection.of("gthread", "default"))
    lab.down()


def test_load_and_three_diagnoses_leave_no_sampler(stack):
    before = set(RESULTS_DIR.glob("*/run.json"))
    proc = make("load", "VUS=50", "ITERATIONS=500")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for _ in range(3):
        proc = make("diagnose")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "verdict (" in proc.stderr
    assert processes_with_marker(stack, "app", MARKER_PREFIX) == 0
    assert processes_with_marker(stack, "app", SAMPLER_TEXT) == 0
    (run_json,) = new_runs(before)
    record = run_record.read(run_json.parent)
    assert record.status == run_record.FINISHED and record.summary["requests"] == 500
    assert not [p for p in record.problems if "outlived" in p], record.problems
    stamps = [r["ts"] for r in run_record.read_evidence(run_json.parent / "evidence.jsonl")]
    assert stamps == sorted(stamps) and len(stamps) >= 2


def test_ctrl_c_during_a_load_leaves_no_k6_and_marks_the_run(stack):
    before = set(RESULTS_DIR.glob("*/run.json"))
    churnlab = str(ROOT / ".venv" / "bin" / "churnlab")
    proc = subprocess.Popen([churnlab, "load", "--vus", "50", "--iterations", "1000000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # As from a terminal: SIGINT not ignored (a background job of a shell ignores it).
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not k6_containers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert k6_containers(), "k6 never started"
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert k6_containers() == []
    assert processes_with_marker(stack, "app", SAMPLER_TEXT) == 0
    (run_json,) = new_runs(before)
    data = json.loads(run_json.read_text())
    assert data["status"] == "interrupted" and data["schema_version"] == run_record.SCHEMA_VERSION
    assert "interrupted (Ctrl-C) during the load" in data["problems"]


def test_default_db_is_postgresql_14_and_run_json_records_it(stack):
    live = stack.exec("db", "psql", "-XAtq", "-U", "lab", "-d", "lab", "-c", "SHOW server_version")
    assert live.returncode == 0, live.stderr
    assert re.fullmatch(r"14\.\d+", live.stdout.strip()), live.stdout
    assert stack.exec("db", "id", "-u").stdout.strip() not in ("", "0")  # non-root, as with 15
    result = loadrun.run(stack, loadrun.LoadParams(scenario="ab", vus=10, iterations=100))
    record = run_record.read(result.run_dir)
    assert record.status == run_record.FINISHED and record.summary["requests"] == 100
    assert record.versions["postgres"] == live.stdout.strip()
    assert record.versions["images"]["churnlab-db-1"].startswith("churnlab/postgres:14@")
