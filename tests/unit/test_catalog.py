"""Bad input gets a clear message listing the valid values, and a non-zero exit."""
import subprocess
import sys

import pytest

from churnlab import catalog
from churnlab.errors import LabError
from churnlab.paths import ROOT

ISSUE_VARIANTS = {"direct", "persistent", "gthread", "pgbouncer", "pgbouncer-local"}
ISSUE_PROFILES = {"default", "repro", "tuned"}


def test_catalog_lists_the_variants_and_profiles_of_the_lab():
    assert set(catalog.variants()) == ISSUE_VARIANTS
    assert set(catalog.profiles()) == ISSUE_PROFILES


@pytest.mark.parametrize("variant,profile,word", [("nope", "repro", "variant"), ("direct", "fast", "profile")])
def test_unknown_names_are_refused_with_the_valid_values(variant, profile, word):
    with pytest.raises(LabError) as info:
        catalog.Selection.of(variant, profile)
    message = str(info.value)
    assert f"unknown {word}" in message
    valid = ISSUE_VARIANTS if word == "variant" else ISSUE_PROFILES
    assert all(name in message for name in valid)


@pytest.mark.parametrize("knobs,fragment", [
    ({"WORKERS": "0"}, "WORKERS='0' must be a whole number >= 1"),
    ({"THREADS": "many"}, "THREADS='many'"),
    ({"CONN_MAX_AGE": "-1"}, "CONN_MAX_AGE='-1'"),
    ({"WORKER_CLASS": "tornado-x"}, "WORKER_CLASS='tornado-x' is not one of"),
    ({"BOGUS": "1"}, "unknown knob 'BOGUS'"),
])
def test_bad_knobs_are_refused(knobs, fragment):
    with pytest.raises(LabError, match=None) as info:
        catalog.Selection.of("direct", "repro", knobs)
    assert fragment in str(info.value)


def test_empty_knobs_mean_the_variant_preset():
    sel = catalog.Selection.of("gthread", "repro", {"WORKERS": "", "THREADS": None, "CONN_MAX_AGE": "0"})
    assert sel.knobs == {"CONN_MAX_AGE": "0"}


def test_cli_exits_non_zero_with_the_list_before_touching_docker():
    proc = subprocess.run([sys.executable, "-m", "churnlab", "up", "--variant", "nope"],
                          capture_output=True, text=True, cwd=ROOT, env={"PATH": "/nonexistent", "COLUMNS": "200"})
    assert proc.returncode == 2
    assert "unknown variant 'nope'" in proc.stderr
    assert "pgbouncer-local" in proc.stderr


def test_make_rejects_an_unknown_profile():
    proc = subprocess.run(["make", "-s", "lab-up", "PROFILE=warp"], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode != 0
    assert "unknown profile 'warp'" in proc.stderr
    assert "repro" in proc.stderr and "tuned" in proc.stderr
