"""The make front door with bad values: the CLI's one line, exit code 2, and
not a single docker (or ansible) call. make adds its own "*** Error 2" line."""
import re
import subprocess

import pytest

from churnlab.core.paths import ROOT
from tests.helpers import clean_env, table

CASES = table("""
    lab-up APP_PORT=70000 -> APP_PORT='70000' must be a whole number from 1024 to 65535
    lab-up APP_PORT=0 -> APP_PORT='0'
    lab-up WORKERS=² -> WORKERS='²'
    lab-up THREADS=-1 -> THREADS='-1'
    lab-up "VARIANT=dir'ect" -> unknown variant "dir'ect"; valid variants: direct
    lab-up PROFILE=warp -> unknown profile 'warp'; valid profiles: default, repro, tuned
    load VUS=10000000 -> VUS='10000000'
    diagnose RUN=/tmp -> RUN='/tmp' must be a run id
    diagnose RUN=../x -> RUN='../x' must be a run id
    diagnose RUN=no-such-run -> no run 'no-such-run' under results/
    diagnose SNAPSHOT=/nonexistent/snap.json -> snapshot '/nonexistent/snap.json' cannot be read
    diagnose SNAPSHOT=/etc/hostname RUN=x -> give RUN or SNAPSHOT, not both
    lab-logs 'SERVICE=app; x' -> unknown service 'app; x'
    matrix 'VARIANTS=direct warp' -> unknown variant 'warp'
    matrix VUS_LEVELS=5x -> VUS_LEVELS='5x'
    demo ITERATIONS=0 -> ITERATIONS='0'
    lab-up PG_MAJOR=13 -> PG_MAJOR='13' must be one of: 14 15
    images PG_MAJOR=15.4 -> PG_MAJOR='15.4' must be one of: 14 15
    matrix PG_MAJOR=16 -> PG_MAJOR='16'
    demo PG_MAJOR=x -> PG_MAJOR='x'
    alert-rules SCRAPE_INTERVAL=0s -> SCRAPE_INTERVAL='0s' must be a whole number from 1 to 300
    alert-rules SCRAPE_INTERVAL=1m -> SCRAPE_INTERVAL='1m'
    alert-rules RUNBOOK_BASE=docs/runbooks -> RUNBOOK_BASE='docs/runbooks' must be an absolute http(s) URL
    alert-rules 'RUNBOOK_BASE=https://wiki.example.com/rb?x=1' -> RUNBOOK_BASE='https://wiki.example.com/rb?x=1'
    alert-rules RULES_FILE=config -> RULES_FILE='config' must name a file
    load FAULT=db-crawl -> unknown FAULT 'db-crawl'
    load FAULT=db-slow FAULT_DB_CPUS=0 -> FAULT_DB_CPUS='0' must be a number from 0.01 to 64
    load FAULT=db-lossy FAULT_LOSS_PCT=100 -> FAULT_LOSS_PCT='100' must be a number from 0.01 to 99.99
""")


@pytest.fixture()
def spy(tmp_path):
    """docker, ansible-playbook and ssh that only record being called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for tool in ("docker", "ansible-playbook", "ssh", "apt-get"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexit 1\n')
        script.chmod(0o755)
    return bin_dir, log


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_make_refuses_bad_values_before_anything_starts(spy, args, message):
    bin_dir, log = spy
    env = clean_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    # demo runs bootstrap first; that is allowed to look for docker, so it is skipped here.
    target, *variables = args
    argv = ["make", "-s", "-o", "bootstrap", target, *variables]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("make: ***")]
    assert len(ours) == 1 and ours[0].startswith("error: ") and message in ours[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not log.exists(), log.read_text()


def test_make_help_lists_the_data_files_variants_via_the_cli():
    proc = subprocess.run(["make", "-s", "help"], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    from churnlab.core import catalog

    for name in catalog.variants() + catalog.profiles():
        assert f"  {name} " in proc.stdout
    for target in ("test-unit", "test-contract", "test-e2e", "lint", "demo", "bootstrap"):
        assert f"{target} " in proc.stdout


def test_make_lint_runs_linters_only():
    proc = subprocess.run(["make", "-n", "lint"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0 and "pytest" not in proc.stdout
    for tool in ("ruff", "bash -n", "yamllint", "ansible-lint"):
        assert tool in proc.stdout


def test_make_test_is_everything():
    """make test: lint beside the unit tests, then scripts/test-suites.sh runs the other three suites' own
    targets (the e2e tests with the hosts' beside them, then the contract tests beside the hosts' loads)."""
    proc = subprocess.run(["make", "-n", "test"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0
    for part in ("scripts/bootstrap.sh", "ruff", "tests/unit", "scripts/test-suites.sh"):
        assert part in proc.stdout, part
    suites = re.findall(r"\bmake -s (test-[a-z0-9]+)", (ROOT / "scripts" / "test-suites.sh").read_text())
    assert sorted(suites) == ["test-contract", "test-e2e", "test-hosts"], suites
    proc = subprocess.run(["make", "-n", *suites], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0
    for part in ("tests/contract", "tests/e2e", "tests/hosts"):
        assert part in proc.stdout, part


def test_a_network_delay_is_refused_where_the_kernel_has_no_netem(spy):
    """FAULT_DELAY_MS needs netem: on a kernel without it (these machines: "Specified qdisc kind is
    unknown"), one line naming the missing qdisc, exit 2, no docker call; never silently ignored."""
    from churnlab import faults

    bin_dir, log = spy
    env = clean_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    proc = subprocess.run(["make", "-s", "load", "FAULT=db-slow", "FAULT_DELAY_MS=50"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("make: ***")]
    missing = faults.netem_missing()
    if missing is None:  # a kernel with netem: the delay is taken, and the load goes on to find the lab
        assert "netem" not in proc.stderr and log.exists(), proc.stderr
        return
    assert proc.returncode == 2 and len(ours) == 1, proc.stderr
    assert ours[0].startswith("error: FAULT_DELAY_MS=50 needs the kernel's netem qdisc, and this kernel has none"), ours
    assert "Specified qdisc kind is unknown" in ours[0] or "not installed" in ours[0], ours
    assert not log.exists(), log.read_text()
