"""The read-only probe, seen from outside the compose lab: the single file, run
by the host venv's python inside the app container's network namespace
(nsenter -t <app pid> -n), in the background while a test's own load runs. It
sees the host's /proc (the app's gunicorn, its config through /proc/PID/root)
and the container's sockets, and reads the app's log where Docker keeps it."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from churnlab.investigate import pyz, snapshot, verdict

# Long enough to see a failing load's failures: on a busy machine the first EADDRNOTAVAIL came 12-14 s
# after the probe began (k6's start, then the range filling), and a 12 s probe once saw only the
# forecast. A load of 3,000 requests that fails takes 15-20 s: the probe adds a few seconds at most.
SECONDS = 20


@contextmanager
def probing(stack, tmp_path: Path, seconds: int = SECONDS):
    """Start the probe now; on leaving, wait for it and fill in what it said (code, out, err, report)."""
    built = pyz.build(tmp_path / "churnlab-investigate.pyz")
    container = stack.run("ps", "-q", "app", capture=True).stdout.strip()
    pid, log = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}} {{.LogPath}}", container],
                              capture_output=True, text=True, check=True).stdout.split()
    snap = tmp_path / "snapshot.json"
    proc = subprocess.Popen(["nsenter", "-t", pid, "-n", sys.executable, str(built), "--seconds", str(seconds),
                             "--log", log, "--snapshot", str(snap)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    said: dict = {}
    try:
        yield said
    finally:
        out, err = proc.communicate(timeout=seconds + 60)
        said.update(code=proc.returncode, out=out, err=err, snapshot=snap)
        if proc.returncode == 0:
            said["offline"] = verdict.report(snapshot.read(str(snap)))  # churnlab diagnose --snapshot's words
            said["verdict"] = verdict.verdict_of(snapshot.read(str(snap)))


def assert_ran(said: dict, run_dir: Path) -> None:
    """It ran, and what it said is kept beside the run it watched (probe.txt, probe-snapshot.json)."""
    (run_dir / "probe.txt").write_text(said["out"] + said["err"])
    if said["snapshot"].exists():
        (run_dir / "probe-snapshot.json").write_bytes(said["snapshot"].read_bytes())
    assert said["code"] == 0 and "Traceback" not in said["err"], said["err"]
    # the snapshot, read back on another machine, gives the verdict the probe printed
    assert said["out"].rstrip("\n").rsplit("\nsnapshot: ", 1)[0] == said["offline"]
