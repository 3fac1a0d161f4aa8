"""The single file, for real, on this machine's /proc: it runs on a bare python3
(-I -S: no site-packages, no environment) and it is read-only. The files of its
HOME and working directory, /etc and the kernel's settings are the same before
and after; it left no process behind; the only thing it wrote is the snapshot (0600)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from churnlab.investigate import pyz

SYSCTL_DIRS = ("/proc/sys/net/ipv4", "/proc/sys/net/core")
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _tree(*roots: str) -> dict[str, tuple[float, int]]:
    """Every file and folder below the roots, with its mtime and size (what a writer changes)."""
    out = {}
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in [".", *files]:
                path = folder if name == "." else os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                out[path] = (st.st_mtime, st.st_size if not stat.S_ISDIR(st.st_mode) else 0)
    return out


def _sysctls() -> dict[str, str]:
    out = {}
    for folder in SYSCTL_DIRS:
        for name in sorted(os.listdir(folder)):
            try:
                with open(os.path.join(folder, name)) as f:
                    out[f"{folder}/{name}"] = f.read()
            except OSError:
                continue  # write-only (flush) or not a file
    return out


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rpartition(")")[2].split()[4]) == sid:
                    members.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return members


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One real run of the built single file: --seconds 1, a log, a snapshot; what was there before and after."""
    tmp = tmp_path_factory.mktemp("probe")
    built = pyz.build(tmp / "dist" / "churnlab-investigate.pyz")
    home, cwd = tmp / "home", tmp / "cwd"
    home.mkdir()
    cwd.mkdir()
    (home / ".profile").write_text("# the probe reads nothing here and writes nothing\n")
    log = home / "app.log"
    log.write_text("2026-12-02 19:40:55,789 ERROR x: connection to server at \"db\" (10.0.0.9), port 5432 failed: "
                   "Cannot assign requested address\n")
    watched = (str(tmp), "/etc")
    before, settings = _tree(*watched), _sysctls()
    proc = subprocess.Popen([SYSTEM_PYTHON, "-I", "-S", str(built), "--seconds", "1", "--log", str(log),
                             "--snapshot", "snap.json"], cwd=cwd, env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = proc.communicate(timeout=60)
    left = _session_members(proc.pid)
    return {"code": proc.returncode, "out": out, "err": err, "before": before, "after": _tree(*watched),
            "settings": (settings, _sysctls()), "left": left, "cwd": cwd, "built": built}


def test_it_runs_on_a_bare_python3_and_gives_a_verdict(ran):
    assert ran["code"] == 0, ran["err"]
    assert "Traceback" not in ran["err"]
    assert "verdict (port-exhaustion-postgres): ephemeral port exhaustion toward db:5432" in ran["out"]
    snap = json.loads((ran["cwd"] / "snap.json").read_text())
    assert snap["version"] == 1 and snap["errors"]["kinds"][0]["count"] == 1


def test_it_imports_only_the_standard_library():
    built = pyz.build(Path(os.environ.get("TMPDIR", "/tmp")) / f"probe-{os.getpid()}.pyz")
    try:
        check = ("import sys; sys.path.insert(0, sys.argv[1]); import churnlab.investigate.main; "
                 "import json; print(json.dumps(sorted(m for m in sys.modules "
                 "if m.split('.')[0] not in (*sys.stdlib_module_names, '__main__'))))")
        proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", check, str(built)], capture_output=True, text=True,
                              timeout=30)
    finally:
        built.unlink()
    assert proc.returncode == 0, proc.stderr
    assert all(m == "churnlab" or m.startswith("churnlab.") for m in json.loads(proc.stdout)), proc.stdout


def test_it_wrote_nothing_but_the_snapshot(ran):
    before, after = ran["before"], ran["after"]
    snapshot = str(ran["cwd"] / "snap.json")
    assert set(after) - set(before) == {snapshot}
    changed = {p for p in before if p in after and before[p] != after[p]}
    assert changed <= {str(ran["cwd"])}, changed  # the folder the snapshot went into, and nothing else
    assert set(before) - set(after) == set()
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600


def test_it_changed_no_setting_and_left_no_process(ran):
    settings_before, settings_after = ran["settings"]
    assert settings_before == settings_after
    assert ran["left"] == []
