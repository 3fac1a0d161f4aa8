"""Training mode's files against the real tools: config/exercises.yml through
the lab's own catalogue, the exercise's db sizing beside the lab's, and the
make targets' front door (one line, exit code 2, no docker call)."""
import re
import subprocess

import pytest

from churnlab.core.paths import ROOT
from churnlab.training import exercises
from tests.helpers import clean_env

SIZING = re.compile(r"^(\w+)\s*=\s*(\S+)", re.M)


def test_every_exercise_runs_a_real_variant_and_profile_with_compose(tmp_path):
    """Each hidden scenario's compose model resolves (docker compose config, no container)."""
    from churnlab.compose.stack import Stack

    for name in exercises.names():
        ex = exercises.get(name, 11)
        model = Stack(ex.scenario.selection()).config()
        env = model["services"]["app"]["environment"]
        assert env["WORKER_CLASS"] and model["services"]["app"].get("sysctls"), name


def test_the_max_connections_sizing_keeps_the_labs_memory_settings():
    small = dict(SIZING.findall((ROOT / "config/postgresql/small-host.conf").read_text()))
    training = dict(SIZING.findall((ROOT / "config/postgresql/training-max-connections.conf").read_text()))
    assert {k: training[k] for k in small} == small
    ex = exercises.get("max-connections")
    threads = int(ex.scenario.knobs["WORKERS"]) * int(ex.scenario.knobs["THREADS"])
    assert int(training["max_connections"]) < threads and ex.db_connections_max <= int(training["max_connections"])


@pytest.mark.parametrize("args,message", [
    (["exercise-start", "EX=nope"], "unknown exercise 'nope'; valid exercises: incident"),
    (["exercise-start", "EX=mystery", "SEED=x"], "SEED='x' must be a whole number"),
    (["exercise-answer", "CAUSE=ports"], "unknown CAUSE 'ports'"),
    (["exercise-check"], "no exercise is running"),
])
def test_make_exercise_refuses_bad_input_before_anything_starts(tmp_path, args, message):
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "docker $*" >> {log}\nexit 1\n')
    (bin_dir / "docker").chmod(0o755)
    env = clean_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    proc = subprocess.run(["make", "-s", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("make: ***")]
    assert proc.returncode == 2 and len(ours) == 1 and message in ours[0], proc.stderr
    assert not log.exists()
