"""make probe: the single file the hosts get, built by make, on the system python3 alone."""
import subprocess

from churnlab.core.paths import ROOT
from tests.helpers import make

PYZ = ROOT / ".lab" / "probe" / "churnlab-investigate.pyz"
PYTHON = ["/usr/bin/python3", "-I", "-S"]


def test_make_probe_builds_one_file_that_runs_on_a_bare_python3():
    make("probe", check=True, timeout=120)
    assert PYZ.is_file()
    usage = subprocess.run([*PYTHON, str(PYZ), "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0
    for option in ("--db HOST:PORT", "--seconds", "--journal-unit UNIT", "--log FILE", "--snapshot FILE"):
        assert option in usage.stdout, option
    bad = subprocess.run([*PYTHON, str(PYZ), "--seconds", "0"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: --seconds='0' must be a whole number from 1 to 300\n"
