"""playbooks/files/churnlab-fault.sh's network delay (db-slow with FAULT_DELAY_MS), run by bash as on a
host, with the host's tools faked: tc, ip, unshare, systemctl and hostname are small scripts over a
folder of state. These machines' kernel has no netem, so the path that adds a delay cannot run for
real here; this checks the script's own logic around it: when it refuses (no netem, loopback, the
owner's root qdisc), that it puts netem only in place of a kernel default, and that undo and check
leave the interface, the unit's quota and /run as they were."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from churnlab.core.paths import ROOT

SCRIPT = ROOT / "playbooks" / "files" / "churnlab-fault.sh"
APP = "192.168.240.13"

FAKES = {
    # tc: a root qdisc per interface in $FAKE/qdisc.<dev> (none: the kernel's noqueue); $FAKE/no-netem: no netem.
    "tc": r'''
if [ "$1 $2" = "qdisc show" ]; then
  echo "qdisc $(cat "$FAKE/qdisc.$4" 2>/dev/null || echo noqueue) 0: root refcnt 2"; exit 0
fi
if [ "$1 $2" = "qdisc add" ]; then
  [ "$6" = netem ] && [ -e "$FAKE/no-netem" ] && { echo "Error: Specified qdisc kind is unknown." >&2; exit 2; }
  [ "$4" = lo ] || { echo "$6" >"$FAKE/qdisc.$4"; echo "$*" >>"$FAKE/tc.log"; }
  exit 0
fi
[ "$1 $2" = "qdisc del" ] && { rm "$FAKE/qdisc.$4"; echo "$*" >>"$FAKE/tc.log"; exit 0; }
exit 1''',
    "ip": r'''echo "$4 via 192.168.240.1 dev $(cat "$FAKE/route" 2>/dev/null || echo eth0) src 192.168.240.11 uid 0"''',
    "unshare": r'''while [ "${1#-}" != "$1" ]; do shift; done; exec "$@"''',
    # systemctl: the unit's CPUQuotaPerSecUSec in $FAKE/quota ("infinity" unless set).
    "systemctl": r'''
case $1 in
  list-units) echo "postgresql@15-main.service loaded active running PostgreSQL Cluster 15-main" ;;
  show) cat "$FAKE/quota" 2>/dev/null || echo infinity ;;
  set-property) q=${4#CPUQuota=}
    if [ -z "$q" ]; then echo infinity >"$FAKE/quota"
    else awk -v p="${q%\%}" 'BEGIN { printf "%dms\n", p * 10 }' >"$FAKE/quota"; fi ;;
esac''',
}


@pytest.fixture()
def host(tmp_path):
    """Run the script as load.yml and fault-undo.yml do, on a fake host; its state folder is tmp_path's."""
    bin_dir, fake = tmp_path / "bin", tmp_path / "fake"
    bin_dir.mkdir()
    fake.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(fake),
           "CHURNLAB_FAULT_STATE": str(tmp_path / "run-churnlab-fault")}

    def run(*args: str, wait: bool = True):
        argv = ["bash", str(SCRIPT), *args]
        if not wait:
            return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)

    return run, fake, tmp_path / "run-churnlab-fault"


def netem_on(fake: Path) -> bool:
    """The fake tc's root qdisc of eth0 is netem (read whole: the file is written after it is created)."""
    try:
        return (fake / "qdisc.eth0").read_text().strip() == "netem"
    except FileNotFoundError:
        return False


def until(predicate, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("setup, said", [
    ({"no-netem": ""}, "the kernel has no netem qdisc (tc qdisc add ... netem: Specified qdisc kind is unknown)"),
    ({"route": "lo"}, f"the route toward {APP} is loopback (the app and the DB on one host)"),
    ({"qdisc.eth0": "htb"}, "the root qdisc on eth0 is htb, the host's own (not a kernel default): it stays"),
    ({"qdisc.eth0": "fq_codel"}, ""),
    ({}, ""),
])
def test_can_delay_says_in_one_line_why_not(host, setup, said):
    run, fake, _ = host
    for name, content in setup.items():
        (fake / name).write_text(content + "\n" if content else "")
    proc = run("can-delay", "db-slow", "postgresql", APP)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(said) and len(proc.stdout.splitlines()) == (1 if said else 0), proc.stdout


def test_the_delay_is_put_on_the_interface_toward_the_app_and_taken_off(host, tmp_path):
    run, fake, state = host
    out = tmp_path / "fault.txt"
    timer = run("timer", "db-slow", "postgresql", str(time.time()), "1", str(out), "0.05", "50", APP, wait=False)
    until(lambda: netem_on(fake))
    assert (fake / "quota").read_text().strip() == "50ms"  # 0.05 CPU, as CPUQuota=5.00%
    assert timer.wait(timeout=10) == 0
    assert not (fake / "qdisc.eth0").exists()  # the kernel's default root qdisc again
    assert (fake / "quota").read_text().strip() == "infinity"
    assert (fake / "tc.log").read_text().splitlines() == ["qdisc add dev eth0 root netem delay 50ms",
                                                           "qdisc del dev eth0 root"]
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["started", "ended"]
    check = run("check", "db-slow", "postgresql")
    assert check.stdout == "" and not state.exists()  # nothing of the fault stays on the host


def test_undo_mid_fault_takes_the_delay_off_and_check_finds_nothing(host, tmp_path):
    run, fake, state = host
    timer = run("timer", "db-slow", "postgresql", str(time.time()), "30", str(tmp_path / "fault.txt"), "0.05",
                "50", APP, wait=False)
    until(lambda: netem_on(fake))
    assert "a netem delay is still on eth0" in run("check", "db-slow", "postgresql").stdout
    undo = run("undo", "db-slow", "postgresql")  # the timer undoes on TERM, then undo again: nothing left
    timer.wait(timeout=10)
    assert not (fake / "qdisc.eth0").exists() and (fake / "quota").read_text().strip() == "infinity", undo.stdout
    assert run("check", "db-slow", "postgresql").stdout == "" and not state.exists()
    assert run("undo", "db-slow", "postgresql").stdout == ""  # idempotent


def test_an_owners_root_qdisc_put_since_the_check_is_left_alone(host, tmp_path):
    """The owner's qdisc appears between `can-delay` and the fault: the timer refuses in place, records
    why, and still puts the CPU quota back."""
    run, fake, state = host
    (fake / "qdisc.eth0").write_text("htb\n")
    out = tmp_path / "fault.txt"
    timer = run("timer", "db-slow", "postgresql", str(time.time()), "0.2", str(out), "0.05", "50", APP, wait=False)
    assert timer.wait(timeout=10) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("error putting db-slow in place failed: no delay added: the root qdisc on eth0 "
                               "is htb"), lines
    assert (fake / "qdisc.eth0").read_text().strip() == "htb" and not (fake / "tc.log").exists()
    assert (fake / "quota").read_text().strip() == "infinity"
    assert run("check", "db-slow", "postgresql").stdout == "" and not state.exists()


def test_a_slow_db_without_delay_adds_no_qdisc(host, tmp_path):
    run, fake, state = host
    timer = run("timer", "db-slow", "postgresql", str(time.time()), "0.2", str(tmp_path / "fault.txt"), "0.05",
                wait=False)
    assert timer.wait(timeout=10) == 0
    assert not (fake / "tc.log").exists() and (fake / "quota").read_text().strip() == "infinity"
    assert run("check", "db-slow", "postgresql").stdout == "" and not state.exists()


def test_the_script_is_what_the_controller_sends():
    from churnlab.hosts import faults as hostfault

    assert hostfault.FAULT_SCRIPT == SCRIPT and Path(SCRIPT).is_file()
