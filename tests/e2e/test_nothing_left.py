"""Nothing left behind on the real lab: no sampler inside the app container
after a load and diagnoses, and Ctrl-C during a load leaves no k6 container
and a run marked interrupted. Small loads (50 VUs), one default stack for all,
which also shows the default db: PostgreSQL 14, recorded in run.json, and the
live panel: redrawn under a terminal, plain lines without one."""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from churnlab.compose import lab
from churnlab.compose.recorder import MARKER_PREFIX, processes_with_marker
from churnlab.core import catalog, run_record
from churnlab.core.paths import RESULTS_DIR, ROOT
from churnlab.load import run as loadrun
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
    yield lab.up(catalog.Selection.of("gthread", "default"), fresh=True)
    lab.down()


def test_load_and_three_diagnoses_leave_no_sampler(stack):
    before = set(RESULTS_DIR.glob("*/run.json"))
    proc = make("load", "VUS=50", "ITERATIONS=500")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Not a terminal: the panel is plain lines (the last one when the load ends), no redraws.
    assert re.search(r"^load \d+:\d\d: 500/500 requests; [\d,]+ req/s; errors/s 0; TIME_WAIT db:5432 [\d,]+; "
                     r"ports [\d,]+/28,232 .*DB conns [\d,]+/800 \(workers x threads\)", proc.stderr, re.M), proc.stderr
    assert "\x1b[" not in proc.stderr
    for _ in range(3):
        proc = make("diagnose", "DIAG_SECONDS=1")  # its samplers are what this test is about, not its window
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "verdict (" in proc.stderr
    assert processes_with_marker(stack, "app", MARKER_PREFIX) == 0
    assert processes_with_marker(stack, "app", SAMPLER_TEXT) == 0
    (run_json,) = new_runs(before)
    record = run_record.read(run_json.parent)
    assert record.status == run_record.FINISHED and record.summary["requests"] == 500
    # The lab's own CPU during the load, against the app's and the DB's; no FIFO left in the folder.
    assert record.overhead and 0 < record.overhead["lab_share"] < 1, record.overhead
    assert {"app", "db"} <= set(record.overhead["containers_cpu_s"]), record.overhead
    assert not list(run_json.parent.glob(".k6-live*"))
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
    assert re.search(r"^load \d+:\d\d: [\d,]+/1,000,000 requests", err, re.M), err[-2000:]  # its last plain line


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


# -- the live panel under a terminal (churnlab/live/panel.py) ------------------------------
def under_a_terminal(argv: list[str], timeout: float = 180) -> tuple[int, str]:
    """Run argv with a pseudo-terminal as stdin, stdout and stderr (200 columns); its exit code and output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(argv, cwd=ROOT, env=clean_env(TERM="xterm-256color"), stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True, start_new_session=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_a_load_under_a_terminal_redraws_the_panel_with_changing_figures(stack):
    before = set(RESULTS_DIR.glob("*/run.json"))
    code, out = under_a_terminal([str(ROOT / ".venv" / "bin" / "churnlab"), "load", "--vus", "50",
                                  "--iterations", "4000"])
    assert code == 0, out[-3000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # the figures, without the terminal's escapes
    done = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) / 4,000 requests", text)]
    assert len(set(done)) >= 3 and done[-1] == 4000, done  # redrawn as k6 ran, ending with every request
    assert "\x1b[1A" in out or "\x1b[2K" in out, "no redraw: the panel printed lines instead"
    for row in ("req/s", "TIME_WAIT to db:5432", "local ports", "DB connections"):
        assert row in text, row
    assert re.search(r"DB connections[^\n]*? \d+ / 800 \(workers x threads\)", text), text[-2000:]
    assert re.search(r"local ports[^\n]*? [\d,]+ / 28,232", text), text[-2000:]
    (run_json,) = new_runs(before)
    assert run_record.read(run_json.parent).summary["requests"] == 4000
