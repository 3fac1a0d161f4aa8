"""Ansible for real, on the lab hosts (systemd + sshd containers reached over SSH).

One session. First what only converges and reads the hosts (marked beside_e2e:
make test runs these beside the e2e tests, tests/hosts/beside_e2e.py; none of
them writes under results/, where the e2e tests look for their runs): hosts up;
a dry run (--check --diff) on the fresh hosts; converge direct + repro twice
(the second run, with -vvv, must change nothing); a dry run on the converged
hosts; no secret in any output, journal or `ps` capture; check the settings are
in effect on each host (and that the host's own pg_hba entries, listen
addresses and TLS are left alone); the pgbouncer variant's exporter; the socket
sampler through an owner's inventory; reload vs restart of PostgreSQL and the
owner's pending setting, TLS-only pg_hba entry and a shared_buffers too large
for the host's memory (kept, or refused with one line before anything is
written, PostgreSQL's start time unchanged), then the lab's settings back; the
HTTPS front (the front role) converges, serves TLS and goes away, with the
owner's PgBouncer unit, nginx site and listening port kept. Then the loads:
reproduce the incident with the ab scenario from loadgen1 against app1 (and
make investigate names it); a host deployed by hand (the incident's app on db1
by tests/hosts/hand_deploy.sh, not the roles) under the same load: make
investigate names the exhaustion and the eventlet workers, read-only and with
no seeded secret in its snapshot; re-provision with gthread and show the same
load gives zero errors; the hand-deployed host healthy after the unit's switch
to gthread; faults mid-load on the hosts (FAULT=db-restart, db-network-cut,
db-lossy, db-slow): recorded, named, recovered, nothing left broken; a load
through the HTTPS front; ASGI's leak and its native pool; then the single-host
topology (inventories/lab-single: app and PostgreSQL on db1, as in the
incident) reproduces the incident (its fix on one host is the hand-deployed
host's, on db1); hosts down.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import secrets as random_secrets
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from churnlab.evidence import app_errors
from churnlab.hosts import lab as lab_hosts
from tests.helpers import ROOT, VENV_BIN, lab_host_containers, make, recap
from tests.helpers import clean_env as env
from tests.hosts import beside_e2e
from tests.hosts.conftest import LAB_HOSTS, quote, ssh

pytestmark = [pytest.mark.e2e, pytest.mark.hosts]

# The incident's ab shape (500 VUs, no keep-alive) with three times the repro range's 1,000 ports: enough to
# use the range up (direct, the hand-deployed eventlet host) or to show it is never needed (gthread). The
# incident's full 10,000 (make provision-load's default) would add 10-20 s a run and show nothing else.
SHORT = 3000
LOAD = ["SCENARIO=ab", "VUS=500", f"ITERATIONS={SHORT}", "KEEPALIVE=0"]
REPRO = {"net.ipv4.ip_local_port_range": "50000 50999", "net.ipv4.tcp_tw_reuse": "0"}
TIMINGS: dict[str, float] = {}
# FAULT=...: a short window (seconds), 20 VUs, time-boxed (about 10,000 requests). A db-restart's
# stop and start take a few seconds more than FAULT_FOR: its tail leaves 3 s after it to check. The
# other faults end on time (a route or a rule removed, a quota restored): QUICK_TAIL is the 3 s
# checked and 3 s for the retransmits a cut or a loss left waiting (the compose lab's is 5-6 s).
FAULT_AT, FAULT_FOR, FAULT_TAIL, QUICK_TAIL = 3, 4, 10, 6
HTTPS_URL = f"https://{LAB_HOSTS['app1']}/api/v1/healthz/"
SECRET_NAMES = ("db_password", "django_secret_key", "pgbouncer_admin_password")
PS_CAPTURE = "/var/tmp/churnlab-test-ps.txt"


def secrets() -> list[str]:
    """The lab's generated secrets, and their first 8 characters."""
    values = [(ROOT / ".secrets" / "lab-hosts" / name).read_text().strip() for name in SECRET_NAMES]
    assert all(len(v) >= 16 for v in values)
    return values + [v[:8] for v in values]


def assert_no_secret(text: str, where: str) -> None:
    leaked = [f"{v[:3]}...({len(v)} chars)" for v in secrets() if v in text]
    assert not leaked, f"{where}: secret values (or their first 8 characters) found: {leaked}"


def playbook(inventory: str, name: str, *args: str, timeout: float = 600) -> tuple[dict, str]:
    """ansible-playbook on the lab hosts directly, for runs with extra-vars."""
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", inventory, f"playbooks/{name}", *args],
                          stdin=subprocess.DEVNULL,
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} {args} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return recap(proc.stdout), proc.stdout


def playbook_refused(inventory: str, name: str, *args: str, timeout: float = 300) -> str:
    """ansible-playbook expected to stop on a refusal: its output as one line (YAML folds long lines and
    doubles quotes)."""
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", inventory, f"playbooks/{name}", *args],
                          stdin=subprocess.DEVNULL,
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode != 0, f"{name} {args} was not refused:\n{proc.stdout[-6000:]}"
    return " ".join(proc.stdout.split()).replace("''", "'")


def db1_files() -> str:
    """What the postgresql role may write on db1: checksums of its files."""
    out = ssh("db1", "cd /etc/postgresql/15/main && md5sum postgresql.conf pg_hba.conf conf.d/*")
    assert out.returncode == 0, out.stderr
    return out.stdout


def db1_sql(query: str) -> str:
    """One query to db1's PostgreSQL as postgres (psql's unaligned tuples), its output stripped."""
    out = ssh("db1", f"runuser -u postgres -- psql -XAtq -d postgres -c {quote(query)}")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def postmaster_started() -> str:
    started = db1_sql("SELECT pg_postmaster_start_time()")
    assert started
    return started


def listening(host: str, port: int) -> set[str]:
    out = ssh(host, f"ss -Htln 'sport = :{port}'").stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def hosts():
    make("hosts-down", timeout=180)
    beside_e2e.yield_cpu()  # under make test, while the e2e tests run
    started = time.monotonic()
    make("hosts-up", timeout=600, check=True)
    TIMINGS["hosts_up_s"] = round(time.monotonic() - started, 1)
    beside_e2e.yield_cpu(lab_host_containers())
    yield
    proc = make("hosts-down", timeout=180)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "ansible-lab-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert lab_host_containers() == []


def provision(variant: str, profile: str, *args: str, inventory: str = "inventories/lab") -> tuple[dict, str]:
    started = time.monotonic()
    extra = [f"ANSIBLE_ARGS={' '.join(args)}"] if args else []
    proc = make("provision", f"INVENTORY={inventory}", f"VARIANT={variant}", f"PROFILE={profile}", *extra,
                timeout=900)
    TIMINGS.setdefault("provision_s", []).append(round(time.monotonic() - started, 1))
    assert proc.returncode == 0, f"provision {variant} {profile} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return recap(proc.stdout), proc.stdout


def converge(timing: str, *args: str) -> tuple[dict, str]:
    """provision direct + repro on the lab hosts: every host answered and none failed; its time as TIMINGS[timing]."""
    started = time.monotonic()
    result, out = provision("direct", "repro", *args)
    TIMINGS[timing] = round(time.monotonic() - started, 1)
    assert set(result) == set(LAB_HOSTS)
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in result.values()), result
    return result, out


def load(inventory: str = "inventories/lab") -> dict:
    """The incident's load shape (LOAD: SHORT requests at its 500 VUs) from the loadgen hosts."""
    before = set((ROOT / "results").glob("*-ab-c500")) if (ROOT / "results").exists() else set()
    started = time.monotonic()
    proc = make("provision-load", f"INVENTORY={inventory}", *LOAD, timeout=900)
    TIMINGS.setdefault("load_s", []).append(round(time.monotonic() - started, 1))
    assert proc.returncode == 0, f"load failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    new = sorted(set((ROOT / "results").glob("*-ab-c500")) - before)
    assert len(new) == 1, f"expected one new results folder, got {new}"
    run_dir = new[0]
    for name in ("app.log", "postgres.jsonl", "netns.jsonl", "run.json"):
        assert (run_dir / name).is_file(), f"{run_dir.name}: {name} is missing"
    # k6's files: in the folder itself with one load generator, in loadgen-<host>/ with several
    for folder in sorted(run_dir.glob("loadgen-*")) or [run_dir]:
        for name in ("k6-summary.json", "k6.log", "k6-metrics.csv.gz"):
            assert (folder / name).is_file(), f"{folder}: {name} is missing"
    return json.loads((run_dir / "run.json").read_text())


def budget_toward(run: dict, target: str) -> dict:
    """The run's port budget toward one destination (evidence.port_budget, churnlab/evidence/port_budget.py)."""
    return next(b for b in run["evidence"]["port_budget"] if b["target"] == target)


def eaddrnotavail(run: dict) -> int:
    return sum(e["count"] for e in run["app_errors"] if "Cannot assign requested address" in e["kind"])


def wait_time_wait_drained(limit: int = 50, timeout: float = 90, host: str = "app1") -> None:
    """Start the next load from a clean slate: no TIME_WAIT ports left on the app host."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = int(ssh(host, "ss -Htan state time-wait | wc -l").stdout.strip() or 0)
        if n <= limit:
            return
        time.sleep(3)


def gunicorn(host: str = "app1") -> dict:
    out = ssh(host, "pid=$(systemctl show -p MainPID --value churnlab-app); "
                    "echo workers=$(pgrep -c -P $pid); "
                    "echo secrets=$(ls /etc/churnlab/secrets | paste -sd,); "
                    "journalctl -u churnlab-app -o cat --no-pager | grep -o 'Using worker: .*' | tail -1; "
                    "tr '\\0' '\\n' </proc/$pid/environ "
                    "| grep -E '^(WORKER_CLASS|WORKERS|THREADS|CONN_MAX_AGE|GUNICORN_BIND|DB_PASSWORD[A-Z_]*"
                    "|DJANGO_[A-Z_]*)='"
              ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    values["using"] = next((line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Using")), "")
    return values


def fault_load(kind: str, *extra: str, tail: int = QUICK_TAIL) -> dict:
    """make provision-load FAULT=<kind> on the lab hosts; its run.json."""
    before = set((ROOT / "results").glob(f"*-{kind}"))
    started = time.monotonic()
    proc = make("provision-load", "INVENTORY=inventories/lab", "VUS=20", f"FAULT={kind}", f"FAULT_AT={FAULT_AT}s",
                f"FAULT_FOR={FAULT_FOR}s", f"FAULT_TAIL={tail}", *extra, timeout=600)
    TIMINGS.setdefault("fault_load_s", {})[kind] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, f"FAULT={kind} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    (run_dir,) = sorted(set((ROOT / "results").glob(f"*-{kind}")) - before)
    return json.loads((run_dir / "run.json").read_text())


def epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def kinds_after(run: dict, seconds_after_end: float) -> set[str]:
    """The app's error kinds logged from `seconds_after_end` after the fault ended (evidence.jsonl)."""
    end = epoch(run["fault"]["ended"]) + seconds_after_end
    lines = (ROOT / "results" / run["run_id"] / "evidence.jsonl").read_text().splitlines()
    return {kind.split(" (toward")[0] for r in map(json.loads, lines)
            if r.get("source") == "app_errors" and r["ts"] >= end for kind in r["kinds"]}


def assert_fault_recorded_named_recovered(run: dict, kind: str, stale_drip: bool = False,
                                         slowed: bool = False) -> dict:
    """run.json's fault: its actual times inside the load and the window planned, named by the verdict
    (as in the compose lab), recovered (the last seconds all answered 200), nothing left broken.
    stale_drip (db-restart or a cut, without CONN_HEALTH_CHECKS, as in tests/e2e/test_faults.py): a
    thread's persistent connection the fault broke may still fail once late; then every failure from
    1 s after the DB was back must be such a stale one. slowed (a degradation that need not fail a
    request or hold one over 1 s): the window's p95 above the p95 before it instead."""
    fault = run["fault"]
    assert fault["kind"] == kind and fault["errors"] == [], fault
    began = epoch(fault["started"]) - epoch(fault["load_started"])
    held = epoch(fault["ended"]) - epoch(fault["started"])
    assert FAULT_AT - 0.5 <= began <= FAULT_AT + 3, fault  # from the generators' shared start
    assert FAULT_FOR - 0.5 <= held <= FAULT_FOR + 15, fault
    assert epoch(run["started"]) < epoch(fault["started"]) < epoch(fault["ended"]) < epoch(run["finished"]), fault
    r = fault["recovery"]
    assert r["left_broken"] == [], r
    if slowed:  # measured on db-slow at 0.05 CPU: p95 58 -> 250 ms, none failed, the longest 498 ms
        assert r["p95_ms_during"] > r["p95_ms_before"], r
    else:
        assert r["failed_during"] > 0 or r["slow_during"] > 0, r
    assert r["last_seconds_requests"] > 0, r
    if stale_drip and not r["recovered"]:
        assert kinds_after(run, 1.0) <= {app_errors.TERMINATED, "server closed the connection"}, kinds_after(run, 1.0)
    else:
        assert r["recovered"] is True and r["last_seconds_failed"] == 0, r
    assert run["verdict"]["case"] == "fault" and run["verdict"]["headline"].startswith(f"fault {kind} "), run["verdict"]
    assert run["load"]["loadgens"] == 2 and 100 < run["summary"]["requests"] < 100_000, run["summary"]
    TIMINGS.setdefault("fault_failed", {})[kind] = {"during": r["failed_during"], "after": r["failed_after"],
                                                   "requests": run["summary"]["requests"],
                                                   "last_failure_after_end_s": r["last_failure_after_end_s"]}
    diag = make("diagnose", f"RUN={run['run_id']}", timeout=120)
    assert diag.returncode == 0 and f"verdict (fault): fault {kind}" in diag.stdout + diag.stderr, \
        diag.stdout[-3000:] + diag.stderr[-2000:]
    return r


# The lab hosts have no curl: Python's own client, the certificate not checked
# (self-signed), "000" when nothing answers.
GET = ("import ssl, sys, urllib.request as u\n"
       "try:\n"
       "    print(u.urlopen(sys.argv[1], context=ssl._create_unverified_context(), timeout=10).status)\n"
       "except Exception:\n"
       "    print('000')\n")


def status(host: str, url: str) -> str:
    return ssh(host, f"python3 - {url}", stdin=GET).stdout.strip()


def app_play(*args: str) -> tuple[dict, str]:
    return playbook("inventories/lab", "app.yml", "-e", "churnlab_variant=gthread", "-e", "sysctl_profile=default",
                    *args, timeout=900)


def investigate(inventory: str, *args: str, target: str = "investigate") -> tuple[subprocess.CompletedProcess, dict]:
    """make investigate: its output, and the snapshots it fetched (host -> snapshot), each owner-only in a new
    owner-only results/investigate-<id>/."""
    before = set((ROOT / "results").glob("investigate-*"))
    proc = make(target, f"INVENTORY={inventory}", *args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    (folder,) = set((ROOT / "results").glob("investigate-*")) - before
    assert folder.stat().st_mode & 0o777 == 0o700
    snapshots = {}
    for path in folder.glob("*.json"):
        assert path.stat().st_mode & 0o777 == 0o600, path
        snapshots[path.stem] = json.loads(path.read_text())
    return proc, snapshots


# What a read-only run must leave as it was: every file under /etc, the unit files and the units' states
# (the SSH sessions' own units aside), the network sysctls (a counter aside), and the temp folders.
HOST_STATE = ("find /etc -xdev -type f -print0 | sort -z | xargs -0 md5sum; "
              "systemctl list-unit-files --no-legend --no-pager; "
              "systemctl list-units --all --no-legend --no-pager --plain "
              "| grep -Ev '^(session-[0-9]+\\.scope|user@|user-)' | awk '{print $1, $2, $3}'; "
              "sysctl -a 2>/dev/null | grep -E '^net\\.' | grep -v nf_conntrack_count; "
              "ls -a /tmp /var/tmp /root/.ansible/tmp /home/ansible/.ansible/tmp 2>&1")


def host_state(host: str) -> list[str]:
    out = ssh(host, HOST_STATE, timeout=120)
    assert out.stdout.count("\n") > 100, out.stderr
    return out.stdout.splitlines()


def assert_unchanged(before: list[str], after: list[str], where: str) -> None:
    gone, new = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    assert not gone and not new, f"{where} changed: gone {gone[:10]}, new {new[:10]}"


# The incident's app deployed by hand on db1 (the incident's own topology: the app beside its database),
# by tests/hosts/hand_deploy.sh: not the roles, another path, unit and config.
SHOP = {"host": "db1", "port": 8100, "unit": "shop-api.service", "config": "/srv/shop/app/settings/gunicorn.conf.py"}
OWNER_HBA = f"host lab lab {LAB_HOSTS['db1']}/32 scram-sha-256  # shop, by hand"
HBA_FILE = "/etc/postgresql/15/main/pg_hba.conf"
PORT_SYSCTLS = "net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse"
HAND_DEPLOYED: dict = {}  # the hand deployment's seeds, inventories and db1's own sysctls, for its gthread test


def shop_inventories(folder: Path) -> tuple[str, str]:
    """The owner's inventory (only where its app hosts are and how to reach them: db1, and app1 beside it)
    and the lab's own with k6 pointed at the shop (load_target)."""
    probe = folder / "shop"
    (probe / "group_vars" / "all").mkdir(parents=True)
    (probe / "hosts").write_text(f"[app]\ndb1 ansible_host={LAB_HOSTS['db1']}\napp1 ansible_host={LAB_HOSTS['app1']}\n")
    shutil.copy(ROOT / "inventories" / "lab" / "group_vars" / "all" / "connection.yml", probe / "group_vars" / "all")
    loaded = folder / "shop-load"
    shutil.copytree(ROOT / "inventories" / "lab", loaded)
    (loaded / "group_vars" / "loadgen" / "target.yml").write_text(
        f"load_target: http://{LAB_HOSTS[SHOP['host']]}:{SHOP['port']}\n")
    return str(probe), str(loaded)


def ssh_pipe(host: str, command: str, data) -> None:
    """A command on a lab host fed with bytes (data), or with another host's command's output ((host, command))."""
    argv = lab_hosts.ssh_argv(LAB_HOSTS[host], f"sudo bash -c {quote(command)}", connect_timeout=5)
    if isinstance(data, bytes):
        out = subprocess.run(argv, input=data, capture_output=True, timeout=120)
    else:
        source = subprocess.Popen(lab_hosts.ssh_argv(LAB_HOSTS[data[0]], f"sudo bash -c {quote(data[1])}",
                                                     connect_timeout=5), stdout=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        out = subprocess.run(argv, stdin=source.stdout, capture_output=True, timeout=120)
        source.stdout.close()
        assert source.wait(timeout=60) == 0, data
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]


def deploy_by_hand(seeds: dict[str, str]) -> None:
    """The owner's host: the repro port range set by hand and pg_hba admitting the host itself; then the app's
    code, the lab app host's packages (the same pins, so no download) and hand_deploy.sh, run with the
    settings on its stdin (never in argv)."""
    host = SHOP["host"]
    owner = ssh(host, f"sysctl -w net.ipv4.ip_local_port_range='50000 50999' net.ipv4.tcp_tw_reuse=0 && "
                      f"echo '{OWNER_HBA}' >> {HBA_FILE} && systemctl reload 'postgresql@15-main'")
    assert owner.returncode == 0, owner.stderr
    code = io.BytesIO()
    with tarfile.open(fileobj=code, mode="w") as tar:
        tar.add(ROOT / "app", "app", filter=lambda t: None if "__pycache__" in t.name or t.name.endswith(".pyc") else t)
        tar.add(ROOT / "tests" / "hosts" / "hand_deploy.sh", "hand_deploy.sh")
    ssh_pipe(host, "install -d /srv/shop/lib && tar -C /srv/shop -xf -", code.getvalue())
    packages = "tar -C /opt/churnlab/venv/lib/python3*/site-packages -cf - ."
    ssh_pipe(host, "tar -C /srv/shop/lib -xf -", ("app1", packages))
    settings = "".join(f"{k}={v}\n" for k, v in {
        "SHOP_DB_HOST": LAB_HOSTS["db1"], "SHOP_DB_PASSWORD": secrets()[0], "SHOP_SECRET_KEY": seeds["secret_key"],
        "SHOP_API_TOKEN": seeds["api_token"], "SHOP_CONFIG_SECRET": seeds["config_secret"]}.items())
    out = ssh(host, "set -a; . /dev/stdin; set +a; bash /srv/shop/hand_deploy.sh", stdin=settings, timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]


def undeploy_by_hand(sysctls: str) -> None:
    out = ssh(SHOP["host"], f"systemctl disable --now {SHOP['unit']}; rm -rf /srv/shop /etc/shop "
                            f"/etc/systemd/system/{SHOP['unit']}; systemctl daemon-reload; userdel shop; "
                            f"sed -i '/# shop, by hand$/d' {HBA_FILE} && systemctl reload 'postgresql@15-main' && "
                            f"sysctl -w net.ipv4.ip_local_port_range='{sysctls.splitlines()[0]}' "
                            f"net.ipv4.tcp_tw_reuse={sysctls.splitlines()[1]}")
    assert out.returncode == 0, out.stderr


def shop_load(inventory: str) -> dict:
    """The incident's load shape (ab, 500 VUs, SHORT requests, no keep-alive) from both generators at the shop; the
    generators' own counts (the run's verdict reads app1, not the shop)."""
    run = load(inventory)
    assert run["load"]["target"] == f"http://{LAB_HOSTS[SHOP['host']]}:{SHOP['port']}", run["load"]
    assert run["summary"]["requests"] == SHORT, run["summary"]
    return run["summary"]["status_counts"]


def assert_no_seed(snapshots: dict, seeds: dict[str, str]) -> None:
    text = json.dumps(snapshots)
    values = [*seeds.values(), *secrets()]
    leaked = [f"{v[:3]}...({len(v)} chars)" for v in values + [v[:8] for v in values] if v in text]
    assert not leaked, f"the snapshot holds secret values (or their first 8 characters): {leaked}"


class TestLabHosts:
    state: dict = {}

    @pytest.mark.beside_e2e
    def test_dry_run_on_fresh_hosts(self, hosts):
        result, out = converge("check_fresh_s", "--check", "--diff")
        assert_no_secret(out, "--check --diff on fresh hosts")
        # Nothing was installed: the dry run changed nothing on the hosts.
        assert ssh("db1", "test -e /etc/postgresql").returncode == 1
        assert ssh("app1", "test -e /opt/churnlab/venv").returncode == 1

    @pytest.mark.beside_e2e
    def test_first_converge_succeeds(self, hosts):
        # Sample every process's argv on app1 for the whole converge: the
        # migrations (and every module) run while it samples.
        sampler = ssh("app1", f"rm -f {PS_CAPTURE}; systemd-run --quiet --unit=churnlab-test-ps --collect "
                              f"bash -c 'while :; do ps -eww -o args >> {PS_CAPTURE}; sleep 0.1; done'")
        assert sampler.returncode == 0, sampler.stderr
        try:
            first, out = converge("first_converge_s")
        finally:
            ssh("app1", "systemctl stop churnlab-test-ps")
        assert all(r["changed"] > 0 for r in first.values()), first
        assert_no_secret(out, "first converge output")

    @pytest.mark.beside_e2e
    def test_the_lab_hosts_have_no_route_out(self, hosts):
        """Their network is compose `internal`: a connection to TEST-NET-1 goes nowhere, and lab-proxy, their
        one way to the package mirrors (the converge above went through it), refuses any address before it
        connects (403). No packet is ever sent to 10.30.x: only the proxy is asked, and it refuses."""
        probe = ("import socket\n"
                 "s = socket.socket(); s.settimeout(3)\n"
                 "try:\n    s.connect(('192.0.2.1', 80)); print('reached 192.0.2.1')\n"
                 "except OSError:\n    print('no route to 192.0.2.1')\n"
                 "for ip in ('192.0.2.1', '10.30.7.7'):\n"
                 "    p = socket.create_connection(('lab-proxy', 8888), timeout=5)\n"
                 "    p.sendall(f'CONNECT {ip}:443 HTTP/1.1\\r\\nHost: {ip}:443\\r\\n\\r\\n'.encode())\n"
                 "    print(ip, p.recv(200).split(b'\\r\\n')[0].decode())\n")
        out = ssh("app1", f"python3 -c {quote(probe)}")
        assert out.stdout.splitlines() == ["no route to 192.0.2.1", "192.0.2.1 HTTP/1.1 403 Filtered",
                                           "10.30.7.7 HTTP/1.1 403 Filtered"], out.stdout + out.stderr

    @pytest.mark.beside_e2e
    def test_no_secret_in_ps_during_the_migrations(self, hosts):
        capture = ssh("app1", f"cat {PS_CAPTURE}; rm -f {PS_CAPTURE}", timeout=120).stdout
        migrate = [line for line in capture.splitlines() if "manage.py migrate" in line]
        assert migrate, "the ps sampler never saw the migrations run"
        TIMINGS["ps_samples_during_migrate"] = len(migrate)
        assert_no_secret(capture, "ps -eo args on app1 during the converge")

    @pytest.mark.beside_e2e
    def test_second_converge_changes_nothing(self, hosts):
        second, out = converge("second_converge_s", "-vvv")
        changed = {h: r["changed"] for h, r in second.items()}
        assert changed == dict.fromkeys(LAB_HOSTS, 0), "not idempotent:\n" + "\n".join(
            line for line in out.splitlines() if line.startswith("changed:"))
        # an inventory plugin declining a source is said at -vvv only (the lab's Python is pinned: no discovery)
        assert "as it did not pass its verify_file() method" in out, "not -vvv output"
        assert_no_secret(out, "-vvv converge output")

    @pytest.mark.beside_e2e
    def test_dry_run_on_converged_hosts(self, hosts):
        result, out = converge("check_converged_s", "--check", "--diff")
        assert {h: r["changed"] for h, r in result.items()} == dict.fromkeys(LAB_HOSTS, 0), "\n".join(
            line for line in out.splitlines() if line.startswith("changed:"))
        assert_no_secret(out, "--check --diff on converged hosts")

    @pytest.mark.beside_e2e
    def test_no_secret_in_any_journal(self, hosts):
        for host in LAB_HOSTS:
            journal = ssh(host, "journalctl --no-pager -o cat", timeout=120)
            assert journal.returncode == 0 and journal.stdout, journal.stderr
            assert_no_secret(journal.stdout, f"{host}'s journal")
        # The migrations ran as the service user through systemd-run, and the
        # sudo lines of every module show no environment assignments.
        sudo = ssh("app1", "journalctl --no-pager -o cat -t sudo").stdout
        assert "COMMAND=" in sudo and "DB_PASSWORD=" not in sudo and "DJANGO_SECRET_KEY=" not in sudo

    @pytest.mark.beside_e2e
    def test_secrets_live_only_in_their_files(self, hosts):
        env_file = ssh("app1", "cat /etc/churnlab/app.env").stdout
        assert "DB_PASSWORD_FILE=/etc/churnlab/secrets/db_password" in env_file
        assert "DB_PASSWORD=" not in env_file and "DJANGO_SECRET_KEY=" not in env_file
        assert_no_secret(env_file, "app.env")
        modes = ssh("app1", "stat -c '%n %a %U:%G' /etc/churnlab/secrets /etc/churnlab/secrets/*").stdout.split("\n")
        assert sorted(filter(None, modes)) == ["/etc/churnlab/secrets 750 root:churnlab",
                                               "/etc/churnlab/secrets/db_password 640 root:churnlab",
                                               "/etc/churnlab/secrets/django_secret_key 640 root:churnlab"]
        facts = json.loads(ssh("app1", "cat /etc/ansible/facts.d/churnlab_app.fact").stdout)
        assert set(facts) == {"variant", "service", "port", "settings"}
        assert_no_secret(json.dumps(facts), "the app's local facts")

    @pytest.mark.beside_e2e
    def test_local_secret_files_are_owner_only(self, hosts):
        """The controller's copies: .secrets/lab-hosts 0700, every file 0600 (the hosts' sshd reads a
        public copy of the key from .lab/)."""
        folder = ROOT / ".secrets" / "lab-hosts"
        assert folder.stat().st_mode & 0o777 == 0o700
        files = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir() if p.is_file()}
        assert {"db_password", "django_secret_key", "id_ed25519", "known_hosts"} <= set(files)
        assert all(mode == 0o600 for mode in files.values()), files

    @pytest.mark.beside_e2e
    def test_postgres_runs_the_incident_settings(self, hosts):
        out = ssh("db1", "runuser -u postgres -- psql -XAtq -d postgres "
                         "-c 'SHOW max_connections' -c 'SHOW shared_buffers' -c 'SHOW password_encryption'"
                         " -c 'SHOW work_mem' -c \"SELECT datname FROM pg_database WHERE datname = 'lab'\"").stdout
        assert out.split() == ["4096", "256MB", "scram-sha-256", "1MB", "lab"]

    @pytest.mark.beside_e2e
    def test_pg_hba_admits_app_and_pgbouncer_in_a_marked_block(self, hosts):
        text = ssh("db1", "cat /etc/postgresql/*/main/pg_hba.conf").stdout
        begin = "# BEGIN churnlab: the app and PgBouncer hosts (managed by Ansible)"
        end = "# END churnlab: the app and PgBouncer hosts (managed by Ansible)"
        block = text.split(begin, 1)[1].split(end, 1)[0]
        rows = [line.split() for line in block.splitlines() if line.strip()]
        assert sorted(r[3] for r in rows) == sorted([f"{LAB_HOSTS['app1']}/32", f"{LAB_HOSTS['pgbouncer1']}/32"])
        assert {(r[0], r[1], r[2], r[4]) for r in rows} == {("host", "lab", "lab", "scram-sha-256")}
        # The host's own entries (Debian's) are still there, after the block.
        outside = text.split(end, 1)[1]
        assert "local   all             postgres                                peer" in outside

    @pytest.mark.beside_e2e
    def test_listen_addresses_are_where_the_clients_are(self, hosts):
        assert listening("db1", 5432) <= {"127.0.0.1", "[::1]", LAB_HOSTS["db1"]}
        assert LAB_HOSTS["db1"] in listening("db1", 5432) and "127.0.0.1" in listening("db1", 5432)
        assert listening("pgbouncer1", 6432) == {"127.0.0.1", LAB_HOSTS["pgbouncer1"]}
        assert listening("app1", 8000) == {"127.0.0.1", LAB_HOSTS["app1"]}
        # postgresql.conf is the host's own (ssl as Debian set it); the lab's settings are in conf.d.
        conf = ssh("db1", "cd /etc/postgresql/15/main && ls conf.d && grep -c '^ssl = ' postgresql.conf")
        assert conf.stdout.split() == ["50-churnlab.conf", "60-churnlab-sizing.conf", "1"]

    @pytest.mark.beside_e2e
    def test_sysctls_match_the_repro_profile(self, hosts):
        for key, value in REPRO.items():
            assert ssh("app1", f"sysctl -n {key}").stdout.split() == value.split()
        persisted = ssh("app1", "cat /etc/sysctl.d/60-churnlab.conf").stdout
        for key, value in REPRO.items():
            assert f"{key}={value}" in persisted.replace(" = ", "=")

    @pytest.mark.beside_e2e
    def test_gunicorn_runs_the_direct_variant(self, hosts):
        g = gunicorn()
        assert g["using"] == "eventlet"
        assert (g["WORKER_CLASS"], g["WORKERS"], g["CONN_MAX_AGE"]) == ("eventlet", "6", "0")
        assert int(g["workers"]) == 6
        assert g["GUNICORN_BIND"] == f"127.0.0.1:8000,{LAB_HOSTS['app1']}:8000"
        assert g["secrets"] == "db_password,django_secret_key"
        assert g["DB_PASSWORD_FILE"] == "/etc/churnlab/secrets/db_password"
        assert "DB_PASSWORD" not in g and "DJANGO_SECRET_KEY" not in g

    @pytest.mark.beside_e2e
    def test_pgbouncer_accepts_connections(self, hosts):
        secrets_dir = ROOT / ".secrets" / "lab-hosts"
        password = (secrets_dir / "db_password").read_text().strip()
        admin = (secrets_dir / "pgbouncer_admin_password").read_text().strip()
        # Passwords on stdin, never in argv or a remote command's environment line.
        out = ssh("pgbouncer1", "read -r PGPASSWORD; export PGPASSWORD; "
                                "psql -XAtq -h 127.0.0.1 -p 6432 -U lab -d lab -c 'SELECT 40 + 2' && "
                                "! psql -XAtq -h 127.0.0.1 -p 6432 -U lab -d pgbouncer -c 'SHOW CONFIG' 2>/dev/null && "
                                "read -r PGPASSWORD; "
                                "psql -XAtq -h 127.0.0.1 -p 6432 -U pgbouncer_admin -d pgbouncer -c 'SHOW CONFIG' "
                                "| grep -E '^(pool_mode|default_pool_size|admin_users)\\|'",
                  stdin=password + "\n" + admin + "\n")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.split()
        assert lines[0] == "42"
        assert any(line.startswith("pool_mode|transaction") for line in lines)
        assert any(line.startswith("default_pool_size|20") for line in lines)
        assert any(line.startswith("admin_users|pgbouncer_admin") for line in lines)

    @pytest.mark.beside_e2e
    def test_pgbouncer_keeps_the_owners_database_and_user(self, hosts):
        """The owner's [databases] entry and auth-file user on pgbouncer1 stay through a change of the lab's
        own settings (its file, included at the end of pgbouncer.ini, wins for what it sets); the files the
        role changed keep a backup beside them."""
        seeded = ssh("pgbouncer1", "sed -i '/^\\[databases\\]/a ownerdb = host=127.0.0.1 port=5432 dbname=ownerdb' "
                                   "/etc/pgbouncer/pgbouncer.ini && "
                                   "echo '\"owner\" \"owner-password-0123456789\"' >> /etc/pgbouncer/userlist.txt && "
                                   "systemctl reload pgbouncer")
        assert seeded.returncode == 0, seeded.stderr
        result, _ = playbook("inventories/lab", "pgbouncer.yml", "-e", "pgbouncer_default_pool_size=21")
        assert result["pgbouncer1"]["changed"] > 0 and result["pgbouncer1"]["failed"] == 0, result
        files = ssh("pgbouncer1", "cd /etc/pgbouncer && grep -c '^ownerdb = ' pgbouncer.ini; "
                                  "grep -c '^\"owner\" ' userlist.txt; ls").stdout.split()
        assert files[:2] == ["1", "1"], files
        assert any(f.startswith("pgbouncer.ini.") and f.endswith("~") for f in files), files
        assert any(f.startswith("churnlab.ini.") and f.endswith("~") for f in files), files
        admin = (ROOT / ".secrets" / "lab-hosts" / "pgbouncer_admin_password").read_text().strip()
        out = ssh("pgbouncer1", "read -r PGPASSWORD; export PGPASSWORD; "
                                "psql -XAtq -h 127.0.0.1 -p 6432 -U pgbouncer_admin -d pgbouncer "
                                "-c 'SHOW DATABASES' -c 'SHOW CONFIG' | cut -d'|' -f1,2", stdin=admin + "\n")
        assert out.returncode == 0, out.stderr
        rows = out.stdout.split()
        assert {"ownerdb|127.0.0.1", f"lab|{LAB_HOSTS['db1']}", "default_pool_size|21"} <= set(rows), rows
        # The Unix socket: PgBouncer's user and the socket's own group only, in a setgid directory of its own.
        socket = ssh("pgbouncer1", "stat -c '%a %U %G' /run/churnlab-pgbouncer /run/churnlab-pgbouncer/.s.PGSQL.6432"
                     ).stdout.split()
        assert socket == ["2750", "postgres", "churnlab-pgbouncer", "770", "postgres", "churnlab-pgbouncer"], socket

    @pytest.mark.beside_e2e
    def test_k6_on_loadgen(self, hosts):
        assert ssh("loadgen1", "k6 version").stdout.startswith("k6 v1.1.0")

    @pytest.mark.beside_e2e
    def test_pgbouncer_exporter_where_the_variant_uses_pgbouncer(self, hosts):
        """monitoring.yml for the pgbouncer variant: Debian's prometheus-pgbouncer-exporter on pgbouncer1
        (its password only in a 0600 pgpass file), scraped by the Prometheus on loadgen1; a dry run after
        it changes nothing. The next provision (gthread, test_gthread_fixes_it) stops it and leaves its
        scrape job with no target."""
        started = time.monotonic()
        variant = ("-e", "churnlab_variant=pgbouncer")
        first, out = playbook("inventories/lab", "monitoring.yml", *variant)
        assert first["pgbouncer1"]["changed"] > 0 and all(r["failed"] == 0 for r in first.values()), first
        again, out_again = playbook("inventories/lab", "monitoring.yml", *variant, "--check", "--diff")
        assert {h: r["changed"] for h, r in again.items()} == dict.fromkeys(again, 0), "\n".join(
            line for line in out_again.splitlines() if line.startswith("changed:"))
        assert_no_secret(out + out_again, "monitoring.yml for the pgbouncer variant")
        pgpass = ssh("pgbouncer1", "stat -c '%a %U' /etc/prometheus-pgbouncer-exporter.pgpass").stdout.split()
        assert pgpass == ["600", "postgres"], pgpass
        script = (
            "import json, sys, time, urllib.parse, urllib.request as u\n"
            "base = 'http://%s:9090/api/v1/' % sys.argv[1]\n"
            "def get(path):\n"
            "    return json.load(u.urlopen(base + path, timeout=5))['data']\n"
            "deadline = time.monotonic() + 45\n"
            "while True:\n"
            "    up = [t['labels']['instance'] for t in get('targets')['activeTargets']\n"
            "          if t['labels']['job'] == 'pgbouncer' and t['health'] == 'up']\n"
            "    if up or time.monotonic() > deadline:\n"
            "        break\n"
            "    time.sleep(1)\n"
            "print(json.dumps({'up': up, 'pools': get('query?query=pgbouncer_waiting_clients')['result']}))\n")
        out = ssh("loadgen1", f"python3 - {LAB_HOSTS['loadgen1']}", stdin=script, timeout=90)
        assert out.returncode == 0, out.stderr
        seen = json.loads(out.stdout)
        assert seen["up"] == [f"{LAB_HOSTS['pgbouncer1']}:9127"], seen
        assert seen["pools"], "the exporter answered without PgBouncer's pools (it could not log in)"
        TIMINGS["pgbouncer_exporter_s"] = round(time.monotonic() - started, 1)

    @pytest.mark.beside_e2e
    def test_the_socket_sampler_on_a_host_named_by_its_owners_inventory_feeds_the_textfile_and_goes_away(
            self, hosts, tmp_path_factory):
        """make sampler on db1 through an owner's inventory (it says only where the host is; no lab role runs):
        a systemd service writes node_exporter's textfile with the churnlab_* metrics the alert rules read
        (db1's own port range); a dry run after it changes nothing; REMOVE=1 leaves db1 as it was."""
        started = time.monotonic()
        inventory = shop_inventories(tmp_path_factory.mktemp("sampler"))[0]
        textfile = "/var/lib/prometheus/node-exporter/churnlab_sockets.prom"
        # node_exporter's textfile directory stands in for the package's (db1 runs no node_exporter).
        made = ssh("db1", "for d in /var/lib/prometheus /var/lib/prometheus/node-exporter; do "
                          "test -d $d || { mkdir $d && echo $d; }; done").stdout.split()
        try:
            before = host_state("db1")
            # Five connections db1 closes itself: its own ports in TIME_WAIT toward 127.0.0.1:22 for 60 s.
            # (db1 sends its FIN first, then reads sshd's: the TIME_WAIT is on db1's side, never an RST.)
            close_first = ("import socket\nfor _ in range(5):\n s = socket.create_connection(('127.0.0.1', 22), 5)\n"
                           " s.shutdown(socket.SHUT_WR)\n while s.recv(4096): pass\n s.close()\n")
            churn = ssh("db1", "python3 -", stdin=close_first)
            assert churn.returncode == 0, churn.stderr
            proc = make("sampler", f"INVENTORY={inventory}", "LIMIT=db1", timeout=300)
            assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
            assert recap(proc.stdout)["db1"]["changed"] > 0 and set(recap(proc.stdout)) == {"db1"}
            text = ""
            for _ in range(40):
                text = ssh("db1", f"cat {textfile} 2>/dev/null || true").stdout
                if "churnlab_destination_local_ports" in text:
                    break
                time.sleep(0.5)
            low, high = map(int, ssh("db1", "sysctl -n net.ipv4.ip_local_port_range").stdout.split())
            assert f"churnlab_ephemeral_port_range_size {high - low + 1}\n" in text, text[:2000]
            time_wait = re.search(r'^churnlab_destination_sockets\{destination="127\.0\.0\.1:22",'
                                  r'name="127\.0\.0\.1:22",state="time_wait"\} (\d+)$', text, re.M)
            assert time_wait and int(time_wait.group(1)) >= 5, text[:2000]
            assert ssh("db1", "systemctl is-active churnlab-sampler.service").stdout.strip() == "active"
            again = make("sampler", f"INVENTORY={inventory}", "LIMIT=db1", "CHECK=1", timeout=300)
            assert again.returncode == 0 and recap(again.stdout)["db1"]["changed"] == 0, again.stdout[-4000:]
            removed = make("sampler", f"INVENTORY={inventory}", "LIMIT=db1", "REMOVE=1", timeout=300)
            assert removed.returncode == 0 and recap(removed.stdout)["db1"]["changed"] > 0, removed.stdout[-4000:]
            left = ssh("db1", f"ls -d {textfile} /usr/local/lib/churnlab-sampler "
                              "/etc/systemd/system/churnlab-sampler.service "
                              "/etc/ansible/facts.d/churnlab_sampler.fact 2>/dev/null; "
                              "pgrep -fa '[c]hurnlab-sampler/sockets.py' || true").stdout.strip()
            assert left == "", left
            # Ansible's own remote temp folder may be new on a host it never reached (empty: its entries count).
            own_tmp = lambda lines: [line for line in lines if "/.ansible/tmp" not in line]  # noqa: E731
            assert_unchanged(own_tmp(before), own_tmp(host_state("db1")), "db1 after make sampler and its REMOVE=1")
        finally:
            ssh("db1", "systemctl disable --now churnlab-sampler.service 2>/dev/null; "
                       "rm -rf /usr/local/lib/churnlab-sampler /etc/systemd/system/churnlab-sampler.service "
                       f"/etc/ansible/facts.d/churnlab_sampler.fact {textfile}; systemctl daemon-reload"
                       + "".join(f"; rmdir {d}" for d in reversed(made)))
        TIMINGS["sampler_s"] = round(time.monotonic() - started, 1)

    @pytest.mark.beside_e2e
    def test_foreign_pg_hba_entry_survives_and_a_reloadable_change_reloads(self, hosts):
        """The owner's pg_hba entry stays; the owner's own setting waiting for a restart is named and
        PostgreSQL is not restarted for it (nor for the lab's reloadable change)."""
        foreign = "hostssl  replication  replicator  10.99.0.0/24  scram-sha-256"
        conf = "/etc/postgresql/15/main/postgresql.conf"
        ssh("db1", f"echo '{foreign}' >> /etc/postgresql/15/main/pg_hba.conf; "
                   f"echo 'max_prepared_transactions = 7  # the owner' >> {conf}")
        before = postmaster_started()
        result, out = playbook("inventories/lab", "db.yml", "-e",
                               json.dumps({"postgresql_extra_settings": {"ssl": "off", "work_mem": "2MB"}}))
        assert result["db1"]["changed"] > 0 and result["db1"]["failed"] == 0
        assert foreign in ssh("db1", "cat /etc/postgresql/15/main/pg_hba.conf").stdout
        assert db1_sql("SHOW work_mem") == "2MB"
        assert postmaster_started() == before, "a reloadable setting restarted PostgreSQL"
        said = " ".join(out.split()).replace("''", "'")  # YAML output: folded, quotes doubled
        pending = f"(max_prepared_transactions={conf})"
        assert f"PostgreSQL not restarted: the host's own settings wait for a restart {pending}" in said, out[-3000:]
        # The owner takes the setting back and restarts PostgreSQL (a postmaster setting taken out of
        # the file waits for a restart too): nothing of the owner's waits for one any more.
        ssh("db1", f"sed -i '/# the owner$/d' {conf} && systemctl restart 'postgresql@15-main'")

    @pytest.mark.beside_e2e
    def test_an_owners_tls_only_policy_or_oversized_memory_settings_stop_before_writing(self, hosts, tmp_path):
        """Each refusal is one line, before the role writes anything: PostgreSQL's files and start time stay."""
        files, started = db1_files(), postmaster_started()
        tls_only = "hostssl all all 192.168.240.0/24 scram-sha-256"
        ssh("db1", f"echo '{tls_only}' >> /etc/postgresql/15/main/pg_hba.conf")
        try:
            with_tls = db1_files()
            out = playbook_refused("inventories/lab", "db.yml")
            assert f"({tls_only}) requires TLS of the lab's client {LAB_HOSTS['app1']}: the owner's policy wins" \
                in out, out[-3000:]
            assert db1_files() == with_tls
        finally:
            ssh("db1", "sed -i '/^hostssl all all 192.168.240.0\\/24 /d' /etc/postgresql/15/main/pg_hba.conf")
        # shared_buffers and effective_cache_size twice the host's memory, from a sizing file of its own:
        # both named in the one line.
        mem_kb = int(ssh("db1", "awk '/^MemTotal:/ {print $2}' /proc/meminfo").stdout)
        settings = ROOT / "config" / "postgresql"
        (tmp_path / "postgresql.conf").write_text((settings / "postgresql.conf").read_text())
        (tmp_path / "small-host.conf").write_text(f"shared_buffers = {2 * mem_kb}kB\n"
                                                  f"effective_cache_size = {2 * mem_kb}kB\n")
        out = playbook_refused("inventories/lab", "db.yml", "-e", f"postgresql_settings_dir={tmp_path}")
        assert f"shared_buffers = {2 * mem_kb}kB (at most 40%, " in out, out[-3000:]
        assert f"; effective_cache_size = {2 * mem_kb}kB (at most 100%, " in out, out[-3000:]
        assert f"too large for this host's memory ({mem_kb // 1024} MB" in out and "nothing was written" in out
        assert db1_files() == files and postmaster_started() == started

    @pytest.mark.beside_e2e
    def test_a_postmaster_setting_restarts_postgres(self, hosts):
        before = postmaster_started()
        playbook("inventories/lab", "db.yml", "-e",
                 json.dumps({"postgresql_extra_settings": {"ssl": "off", "max_connections": 4000}}))
        assert db1_sql("SHOW max_connections") == "4000"
        assert postmaster_started() != before, "max_connections changed without a restart"
        # The lab's own settings back (the loads after these tests read max_connections 4096): one restart.
        playbook("inventories/lab", "db.yml")
        assert db1_sql("SHOW max_connections") == "4096"

    @pytest.mark.beside_e2e
    def test_the_https_front_converges_serves_tls_and_goes_away(self, hosts):
        """The HTTPS front (the front role), app1 switched to gthread by the app play alone: a dry run on a
        host without nginx, a converge with churnlab_front=https, a second one that changes nothing,
        TLS from loadgen1 to app1 through nginx, the key root-only, then churnlab_front=none takes the
        front away (the owner's things kept). Then app1 back to direct + repro for the loads. A load
        through the front: test_a_load_goes_through_the_front_by_itself, after the e2e tests."""
        started = time.monotonic()
        # The owner's own PgBouncer unit on app1 (a stand-in): the app plays below (gthread,
        # no PgBouncer beside the app) leave it running, as the lab did not install it.
        seeded = ssh("app1", "printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\n"
                             "WantedBy=multi-user.target\\n' >/lib/systemd/system/pgbouncer.service && "
                             "systemctl daemon-reload && systemctl enable --now pgbouncer")
        assert seeded.returncode == 0, seeded.stderr
        dry, _ = app_play("-e", "churnlab_front=https", "--check", "--diff")
        assert dry["app1"]["failed"] == 0
        assert status("loadgen1", HTTPS_URL) == "000"  # nothing listens on 443 yet: the dry run changed nothing

        first, _ = app_play("-e", "churnlab_front=https")
        assert first["app1"]["failed"] == 0 and first["app1"]["changed"] > 0
        second, out = app_play("-e", "churnlab_front=https")
        assert second["app1"]["changed"] == 0, out[-4000:]
        assert status("loadgen1", HTTPS_URL) == "200"
        # The lab installed nginx: the local fact says so, and only then was Debian's default site removed.
        assert "nginx=lab" in ssh("app1", "cat /etc/ansible/facts.d/churnlab_installed.fact").stdout
        assert ssh("app1", "test -e /etc/nginx/sites-enabled/default").returncode == 1
        modes = ssh("app1", "stat -c '%a %U' /etc/churnlab/front /etc/churnlab/front/front.key").stdout.split()
        assert modes == ["700", "root", "600", "root"], modes
        # gunicorn behind it still answers on its own port (the front is an addition).
        assert status("loadgen1", f"http://{LAB_HOSTS['app1']}:8000/api/v1/ping/") == "200"
        # The owner's things on app1, then the play that takes the front away, with PROFILE=tuned (ports
        # 1024-65535): an nginx of the owner's (the fact no longer names it) keeps its own port-80 site, and
        # the host's own listening ports are reserved, a service of the owner's (8765) as well as the lab's.
        owner = ssh("app1", "sed -i '/^nginx=/d' /etc/ansible/facts.d/churnlab_installed.fact && "
                            "ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default && "
                            "systemctl reload nginx")
        assert owner.returncode == 0, owner.stderr
        listener = ssh("app1", "systemd-run --quiet --unit=churnlab-test-owner-listener --collect "
                               "python3 -m http.server --bind 127.0.0.1 8765")
        assert listener.returncode == 0, listener.stderr
        off, out = app_play("-e", "churnlab_front=none", "-e", "sysctl_profile=tuned")
        ssh("app1", "systemctl stop churnlab-test-owner-listener")
        assert off["app1"]["changed"] > 0 and off["app1"]["failed"] == 0, out[-4000:]
        assert status("loadgen1", HTTPS_URL) == "000"
        assert ssh("app1", "test -e /etc/ansible/facts.d/churnlab_front.fact").returncode == 1  # loads: gunicorn
        assert ssh("app1", "test -L /etc/nginx/sites-enabled/default").returncode == 0
        assert status("loadgen1", f"http://{LAB_HOSTS['app1']}/") == "200"  # the owner's site stays
        reserved = ssh("app1", "sysctl -n net.ipv4.ip_local_reserved_ports").stdout.strip().split(",")
        assert {"8000", "8765"} <= set(reserved), reserved  # gunicorn, the owner's listener
        assert "net.ipv4.ip_local_reserved_ports = " in ssh("app1", "cat /etc/sysctl.d/60-churnlab.conf").stdout
        assert ssh("app1", "systemctl is-active pgbouncer").stdout.strip() == "active", "the owner's PgBouncer stopped"
        ssh("app1", "systemctl disable --now pgbouncer; rm -f /lib/systemd/system/pgbouncer.service; "
                    "systemctl daemon-reload")
        # app1 back to the lab's direct + repro, for the loads that follow
        result, _ = provision("direct", "repro", "--limit", "app1")
        assert set(result) == {"app1"} and result["app1"]["failed"] == 0
        assert gunicorn()["using"] == "eventlet"
        assert ssh("app1", "sysctl -n net.ipv4.ip_local_port_range").stdout.split() == ["50000", "50999"]
        TIMINGS["https_front_s"] = round(time.monotonic() - started, 1)

    def test_incident_reproduced_direct_repro(self, hosts):
        run = load()
        self.state["direct"] = run
        assert run["selection"]["variant"] == "direct" and run["selection"]["profile"] == "repro"
        assert run["summary"]["requests"] == SHORT
        assert eaddrnotavail(run) > 1000, run["app_errors"]
        assert run["summary"]["status_counts"].get("499", 0) >= eaddrnotavail(run) * 0.9
        assert run["db"]["max_connections"] == 4096
        # The same evidence and verdict as the compose lab, from the hosts.
        db = LAB_HOSTS["db1"]
        assert run["verdict"]["case"] == "port-exhaustion-postgres", run["verdict"]
        assert run["verdict"]["headline"].startswith(f"ephemeral port exhaustion toward {db}:5432")
        assert run["evidence"]["peak_port_use_pct"] >= 95
        budget = budget_toward(run, f"{db}:5432")  # the port budget predicted it, on hosts too
        assert budget["headroom"] < 0 and budget["predicted_exhaustion_at"] is not None, budget
        assert budget["failed_connections"] > 1000 and budget["first_error_at"] is not None, budget
        # make investigate (the probe, read-only) on the live hosts right after the load: the same verdict.
        proc, _ = investigate("inventories/lab", "DIAG_SECONDS=2")
        assert "verdict (port-exhaustion-postgres)" in proc.stdout and f"toward {db}:5432" in proc.stdout, \
            proc.stdout[-3000:]
        assert recap(proc.stdout)["app1"]["changed"] == 0
        # The same verdict in check mode (every task of investigate.yml only reads), by its older name too.
        proc, _ = investigate("inventories/lab", "DIAG_SECONDS=1", "ANSIBLE_ARGS=--check", target="provision-diagnose")
        assert "verdict (port-exhaustion-postgres)" in proc.stdout, proc.stdout[-3000:]

    def test_a_host_deployed_by_hand_investigated_under_the_incidents_load(self, hosts, tmp_path_factory):
        """The incident's app installed on db1 by a plain script (tests/hosts/hand_deploy.sh: /srv/shop,
        shop-api.service, its own gunicorn config with worker_class from os.environ, CONN_MAX_AGE=600, the
        repro port range set by the owner), under the incident's load: make investigate, on an inventory
        that says nothing but where the hosts are, names the port exhaustion toward db1:5432 and the eventlet
        workers. The probe leaves the host as it was, and no seeded secret reaches its snapshot."""
        started = time.monotonic()
        seeds = {name: random_secrets.token_hex(16) for name in ("secret_key", "api_token", "config_secret")}
        inventories = shop_inventories(tmp_path_factory.mktemp("shop"))
        sysctls = ssh(SHOP["host"], f"sysctl -n {PORT_SYSCTLS}").stdout
        HAND_DEPLOYED.update(seeds=seeds, inventories=inventories, sysctls=sysctls)
        deploy_by_hand(seeds)
        TIMINGS["hand_deploy_s"] = round(time.monotonic() - started, 1)
        counts = shop_load(inventories[1])
        assert counts.get("499", 0) > 1000, counts  # the health check's DB errors, as in the incident
        before = host_state(SHOP["host"])
        proc, snapshots = investigate(inventories[0], "LIMIT=db1", "DIAG_SECONDS=3")
        assert_unchanged(before, host_state(SHOP["host"]), "db1 (files under /etc, units, sysctls, temp folders)")
        assert set(snapshots) == {"db1"}
        said = proc.stdout[proc.stdout.index("== db1 "):]
        assert "verdict (port-exhaustion-postgres)" in said and f"toward {LAB_HOSTS['db1']}:5432" in said, said
        assert "eventlet" in said, said
        assert recap(proc.stdout)["db1"]["changed"] == 0
        assert_no_seed(snapshots, seeds)
        HAND_DEPLOYED["investigated"] = said
        # The owner stops the app until its switch to gthread (the test after test_gthread_fixes_it starts it
        # again). Its eventlet workers' connections are greenlet-local: with CONN_MAX_AGE=600, one a request is
        # left idle until the garbage collector frees it, and an idle app never calls it. Left running, they sat
        # on db1's PostgreSQL (469 idle client backends, seen once) and counted in the gthread run's peak there.
        stopped = ssh(SHOP["host"], f"systemctl stop {SHOP['unit']} && systemctl is-active {SHOP['unit']} || true")
        assert stopped.stdout.strip() == "inactive", stopped.stdout + stopped.stderr
        TIMINGS["hand_deployed_eventlet_s"] = round(time.monotonic() - started, 1)

    def test_prometheus_on_loadgen_saw_the_port_alert(self, hosts):
        """The monitoring role (monitoring_enabled in the lab inventory):
        Prometheus on loadgen1 scrapes app1's node_exporter + socket sampler
        and db1's postgres_exporter (and pgbouncer1's, from the exporter's test before the load), loads
        the lab's rules, and its port alert was active during the direct + repro load just run."""
        script = (
            "import json, sys, urllib.parse, urllib.request as u\n"
            "base = 'http://%s:9090/api/v1/' % sys.argv[1]\n"
            "def get(path):\n"
            "    return json.load(u.urlopen(base + path, timeout=5))['data']\n"
            "alert = 'max_over_time(ALERTS{alertname=\"EphemeralPortExhaustionPredicted\"}[15m])'\n"
            "print(json.dumps({\n"
            "    'targets': [(t['labels']['job'], t['health']) for t in get('targets')['activeTargets']],\n"
            "    'rules': [r['name'] for g in get('rules')['groups'] for r in g['rules']],\n"
            "    'alert': get('query?query=' + urllib.parse.quote(alert))['result'],\n"
            "    'sampled': get('query?query=churnlab_ephemeral_port_range_size')['result']}))\n")
        # The script on stdin: no shell quoting between it and Python.
        out = ssh("loadgen1", f"python3 - {LAB_HOSTS['loadgen1']}", stdin=script)
        assert out.returncode == 0, out.stderr
        seen = json.loads(out.stdout)
        assert sorted(map(tuple, seen["targets"])) == [("node", "up"), ("pgbouncer", "up"), ("postgres", "up"),
                                                       ("prometheus", "up")], seen["targets"]  # pgbouncer: see above
        assert "EphemeralPortExhaustionPredicted" in seen["rules"] and len(seen["rules"]) == 4, seen["rules"]
        assert [r["value"][1] for r in seen["sampled"]] == ["1000"], seen["sampled"]  # the repro range
        assert seen["alert"], "the port alert was never pending or firing during the direct + repro load"
        assert {r["metric"]["name"] for r in seen["alert"]} == {f"{LAB_HOSTS['db1']}:5432"}, seen["alert"]

    def test_failing_k6_leaves_no_probe_on_any_host(self, hosts):
        """k6 killed mid-run: load.yml stops its probes anyway and records the run as failed."""
        before = set((ROOT / "results").glob("*-ab-c50/run.json"))
        proc = subprocess.Popen(["make", "-s", "provision-load", "INVENTORY=inventories/lab", "SCENARIO=ab",
                                 "VUS=50", "ITERATIONS=1000000"], cwd=ROOT, env=env(), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while ssh("loadgen1", "pgrep -x k6").returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, \
                "k6 never started:\n" + (proc.stdout.read()[-3000:] if proc.poll() is not None else "")
            time.sleep(1)
        time.sleep(2)
        probes = "pgrep -fa '[c]hurnlab_probe=' || true"
        assert "psql" in ssh("db1", probes).stdout and "churnlab-sockets" in ssh("app1", probes).stdout
        for host in ("loadgen1", "loadgen2"):  # every generator: each runs its segment of the run
            ssh(host, "pkill -KILL -x k6")
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode != 0 and "k6 failed (exit 137)" in out, out[-3000:]
        for host in LAB_HOSTS:
            assert ssh(host, probes).stdout.strip() == "", host
            assert ssh(host, "ls -d /tmp/churnlab-load-* 2>/dev/null || true").stdout.strip() == "", host
        (run_json,) = set((ROOT / "results").glob("*-ab-c50/run.json")) - before
        run = json.loads(run_json.read_text())
        assert run["status"] == "failed" and re.match(r"k6( on loadgen\d)? failed \(exit 137\)", run["problems"][0]), \
            run["problems"]

    def test_gthread_fixes_it(self, hosts):
        # The direct run left app1's port range in TIME_WAIT for up to a minute: the
        # converge overlaps it (the app role's migrate retries for ports), and the
        # load waits for a clean slate, like the compose lab's fresh stack. The converge
        # also covers the TIME_WAIT the hand-deployed host's run left on db1, for its own
        # gthread test after this one (the shop's unit, pg_hba line and port range are the
        # owner's: db.yml keeps them).
        result, _ = provision("gthread", "repro")
        assert all(r["failed"] == 0 for r in result.values())
        # the pgbouncer variant's exporter (test_pgbouncer_exporter_where_the_variant_uses_pgbouncer): stopped,
        # and its scrape job left with no target
        assert ssh("pgbouncer1", "systemctl is-active prometheus-pgbouncer-exporter").stdout.strip() == "inactive"
        config = ssh("loadgen1", "cat /etc/prometheus/prometheus.yml").stdout
        assert "job_name: pgbouncer\n    static_configs:\n      - targets: []\n" in config, config
        g = gunicorn()
        assert g["using"] == "gthread"
        assert (g["WORKERS"], g["THREADS"], g["CONN_MAX_AGE"]) == ("20", "40", "600")
        assert int(g["workers"]) == 20
        wait_time_wait_drained()
        run = load()
        self.state["gthread"] = run
        TIMINGS["errors"] = {k: eaddrnotavail(v) for k, v in self.state.items()}
        TIMINGS["peak_client_backends"] = {k: v["db"]["peak_client_backends"] for k, v in self.state.items()}
        assert run["selection"]["variant"] == "gthread"
        assert run["summary"]["requests"] == SHORT
        assert run["app_errors"] == []
        counts = run["summary"]["status_counts"]
        # No DB error (no 499). A k6 transport failure (status 0) is not one; it stays rare.
        assert counts.get("499", 0) == 0 and set(counts) <= {"200", "0"}, counts
        assert counts.get("0", 0) <= 10, counts
        assert run["db"]["peak_client_backends"] <= 20 * 40
        assert run["verdict"]["case"] == "healthy", run["verdict"]
        budget = budget_toward(run, f"{LAB_HOSTS['db1']}:5432")  # a bounded pool: headroom left in the range
        assert budget["headroom"] > 0 and budget["failed_connections"] == 0, budget

    def test_two_generators_share_the_load_and_merge_exactly(self, hosts):
        """loadgen1 and loadgen2 each took a segment of the gthread run, from one
        start time; their counts add up and the merged p95 is the p95 of both
        hosts' samples concatenated (read here from the fetched CSVs)."""
        run = self.state.get("gthread")
        if run is None:  # run alone (-k): converge the fix and put the load on first
            provision("gthread", "default")
            run = load()
        per = run["load"]["per_loadgen"]
        assert run["load"]["loadgens"] == 2, run["load"]
        assert [(g["name"], g["segment"]) for g in per] == [("loadgen1", "0:1/2"), ("loadgen2", "1/2:1")], per
        assert sum(g["requests"] for g in per) == SHORT and all(g["requests"] > 0 for g in per), per
        assert abs(per[0]["first_request"] - per[1]["first_request"]) <= 1, per  # they began together
        samples = []
        for host in ("loadgen1", "loadgen2"):
            with gzip.open(ROOT / "results" / run["run_id"] / f"loadgen-{host}" / "k6-metrics.csv.gz", "rt",
                           newline="") as f:
                samples += [float(r["metric_value"]) for r in csv.DictReader(f)
                            if r["metric_name"] == "http_req_duration" and r["scenario"]]
        samples.sort()
        assert len(samples) == SHORT
        i = 0.95 * (len(samples) - 1)
        p95 = samples[int(i)] + (samples[int(i) + 1] - samples[int(i)]) * (i - int(i))
        assert abs(run["summary"]["p95_ms"] - p95) < 1e-6, (run["summary"]["p95_ms"], p95)
        assert run["verdict"]["case"] == "healthy", run["verdict"]
        # each generator's own CPU, from bash's time of k6 on its host (k6.time): not short of it
        assert all(g["cpu_s"] > 0 and g["cpu_cores"] >= 1 and 0 < g["cpu_busy"] < 0.9 for g in per), per

    def test_the_host_deployed_by_hand_is_healthy_after_its_switch_to_gthread(self, hosts):
        """The owner switches the hand-made unit to gthread (its environment file, a restart): under the same
        load, make investigate says healthy and names the gthread workers. The hand-made app goes away after."""
        shop = HAND_DEPLOYED
        assert shop, "needs the test before it (the hand deployment and its eventlet run)"
        started = time.monotonic()
        try:
            switched = ssh(SHOP["host"], f"sed -i 's/^SHOP_WORKER=.*/SHOP_WORKER=gthread/' /etc/shop/shop.env && "
                                         f"systemctl restart {SHOP['unit']} && for i in $(seq 60); do "
                                         "python3 -c \"import urllib.request as u; "
                                         f"u.urlopen('http://127.0.0.1:{SHOP['port']}/api/v1/ping/', timeout=2)\" "
                                         "2>/dev/null && exit 0; sleep 0.5; done; exit 1")
            assert switched.returncode == 0, switched.stderr
            wait_time_wait_drained(host=SHOP["host"])
            counts = shop_load(shop["inventories"][1])
            assert set(counts) <= {"200", "0"} and counts.get("0", 0) <= 10, counts
            proc, snapshots = investigate(shop["inventories"][0], "LIMIT=db1", "DIAG_SECONDS=3")
            said = proc.stdout[proc.stdout.index("== db1 "):]
            assert "verdict (healthy)" in said and "gthread" in said, said
            assert_no_seed(snapshots, shop["seeds"])
            HAND_DEPLOYED["healthy"] = said
        finally:
            undeploy_by_hand(shop["sysctls"])
        TIMINGS["hand_deployed_gthread_s"] = round(time.monotonic() - started, 1)

    def test_db_restart_mid_load_is_recorded_named_and_recovered(self, hosts):
        """FAULT=db-restart on the gthread hosts: systemctl stop, then start, of PostgreSQL's
        unit on db1 while both generators load app1; the unit is active again afterwards."""
        started = time.monotonic()
        run = fault_load("db-restart", tail=FAULT_TAIL)
        assert run["fault"]["target"].startswith("db1: "), run["fault"]
        assert_fault_recorded_named_recovered(run, "db-restart", stale_drip=True)
        assert ssh("db1", "systemctl is-active 'postgresql@*'").stdout.split() == ["active"]
        assert ssh("db1", "ps -C postgres -o stat= | grep -c '^T' || true").stdout.strip() == "0"
        assert ssh("db1", "ls -d /tmp/churnlab-fault-* 2>/dev/null || true").stdout.strip() == ""
        # the database sampler's psql ended with the server; a new one sampled after it was back
        evidence = [json.loads(line) for line in (ROOT / "results" / run["run_id"] / "evidence.jsonl").open()]
        assert any(r.get("source") == "postgres" and r["ts"] > epoch(run["fault"]["ended"]) for r in evidence)
        TIMINGS["fault_db_restart_test_s"] = round(time.monotonic() - started, 1)

    def test_db_network_cut_mid_load_is_recorded_named_and_the_route_is_gone(self, hosts):
        """FAULT=db-network-cut: an unreachable route toward db1 on app1 for the window, removed after.
        A gthread thread's persistent connection the cut broke fails at that thread's next request, which
        with 20 clients over 800 threads can come seconds after the route is back (seen once: "server closed
        the connection unexpectedly" 8.9 s after): the restart's stale drip, allowed the same way."""
        started = time.monotonic()
        run = fault_load("db-network-cut")
        assert run["fault"]["target"] == f"app1 -> {LAB_HOSTS['db1']}", run["fault"]
        assert_fault_recorded_named_recovered(run, "db-network-cut", stale_drip=True)
        assert ssh("app1", f"ip route show {LAB_HOSTS['db1']}/32").stdout.strip() == ""
        TIMINGS["fault_db_network_cut_test_s"] = round(time.monotonic() - started, 1)

    def test_db_lossy_mid_load_slows_requests_and_leaves_no_rule(self, hosts):
        """FAULT=db-lossy: 30% of app1's packets toward db1 dropped in the lab's own iptables chain
        (iptables installed by load.yml where missing) for the window; requests stall on retransmits,
        none fails, and the chain and its jump are gone after."""
        started = time.monotonic()
        run = fault_load("db-lossy", "FAULT_LOSS_PCT=30")
        assert run["fault"]["target"] == f"app1 -> {LAB_HOSTS['db1']}" and run["fault"]["loss_pct"] == 30
        r = assert_fault_recorded_named_recovered(run, "db-lossy")
        assert r["p95_ms_during"] > r["p95_ms_before"], r
        assert "30% of the app's packets toward the DB dropped" in run["verdict"]["headline"]
        assert ssh("app1", "iptables-save | grep -c CHURNLAB || true").stdout.strip() == "0"
        TIMINGS["fault_db_lossy_test_s"] = round(time.monotonic() - started, 1)

    def test_db_slow_mid_load_slows_requests_and_restores_the_quota_exactly(self, hosts):
        """FAULT=db-slow: PostgreSQL's unit on db1 gets 0.05 CPU (systemctl set-property --runtime) for the
        window; requests slow down, and afterwards the unit's CPU quota is exactly what it was, with
        nothing of the fault left on the host."""
        started = time.monotonic()
        quota = "systemctl show -p CPUQuotaPerSecUSec --value 'postgresql@15-main'"
        before = ssh("db1", quota).stdout.strip()
        run = fault_load("db-slow", "FAULT_DB_CPUS=0.05")
        assert run["fault"]["target"].startswith("db1: ") and run["fault"]["db_cpus"] == 0.05, run["fault"]
        assert_fault_recorded_named_recovered(run, "db-slow", slowed=True)
        assert "Postgres slowed to 0.05 CPU" in run["verdict"]["headline"], run["verdict"]["headline"]
        assert ssh("db1", quota).stdout.strip() == before
        assert ssh("db1", "ls -A /run/churnlab-fault 2>/dev/null || true").stdout.strip() == ""
        TIMINGS["fault_db_slow_test_s"] = round(time.monotonic() - started, 1)

    def test_a_network_delay_asks_db1s_own_kernel(self, hosts):
        """FAULT=db-slow FAULT_DELAY_MS=50: db1 is asked, before anything starts, whether netem can delay its
        packets toward app1 (the fault script's can-delay, over SSH). These machines' kernel has none: one
        line naming db1's missing qdisc, exit 2, no run and nothing on db1. A kernel with netem: the
        delay is put on db1's interface toward app1, recorded, and gone after."""
        from churnlab import faults

        before = set((ROOT / "results").iterdir())
        if faults.netem_missing() is None:  # the lab hosts share this machine's kernel
            run = fault_load("db-slow", "FAULT_DB_CPUS=0.5", "FAULT_DELAY_MS=50")
            assert run["fault"]["delay_ms"] == 50 and "+50 ms" in run["verdict"]["headline"]
            assert_fault_recorded_named_recovered(run, "db-slow", slowed=True)
            assert "netem" not in ssh("db1", "tc qdisc show").stdout
        else:
            proc = make("provision-load", "INVENTORY=inventories/lab", "VUS=20", "FAULT=db-slow",
                        "FAULT_DELAY_MS=50", timeout=120)
            ours = [line for line in proc.stderr.splitlines() if not line.startswith("make: ***")]
            assert proc.returncode == 2 and ours == [
                "error: FAULT_DELAY_MS=50 cannot delay db1's packets: the kernel has no netem qdisc (tc qdisc add "
                "... netem: Specified qdisc kind is unknown); FAULT=db-slow without it slows the DB by CPU alone"], \
                proc.stderr
            assert set((ROOT / "results").iterdir()) == before
        assert ssh("db1", "ls -A /run/churnlab-fault 2>/dev/null || true").stdout.strip() == ""

    def test_a_load_goes_through_the_front_by_itself(self, hosts):
        """The HTTPS front on the gthread app1 again (the app play), and a load that names no front: load.yml
        reads the front's local fact and sends k6 to nginx on 443. The front stays for the next test, whose
        provision (the inventory's churnlab_front: none) takes it away."""
        started = time.monotonic()
        first, out = app_play("-e", "churnlab_front=https")
        assert first["app1"]["failed"] == 0 and first["app1"]["changed"] > 0, out[-4000:]
        assert status("loadgen1", HTTPS_URL) == "200"
        before = set((ROOT / "results").glob("*-ab-c50"))
        proc = make("provision-load", "INVENTORY=inventories/lab", "VUS=50", "ITERATIONS=500", timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        new = sorted(set((ROOT / "results").glob("*-ab-c50")) - before)
        assert len(new) == 1, new
        run = json.loads((new[0] / "run.json").read_text())
        assert run["selection"]["front"] == "https"
        assert run["load"]["target"] == f"https://{LAB_HOSTS['app1']}:443"
        assert run["summary"]["requests"] == 500 and run["summary"]["error_rate"] == 0, run["summary"]
        TIMINGS["https_front_load_s"] = round(time.monotonic() - started, 1)

    def test_asgi_leaks_on_the_hosts_and_its_native_pool_holds(self, hosts):
        """Today's form of the incident on the lab hosts: app1 converged to today's lock (Django 5.2, psycopg 3,
        gunicorn 27 with uvicorn's worker). asgi-pool (Django's native pool) serves 3,000 of the incident's
        requests within workers x pool_max_size; asgi (CONN_MAX_AGE=600: Django ticket #33497) keeps each
        request's connection open until the repro range runs out, and the verdict names the leak. The app
        play alone switches app1 (--limit app1: nothing else changes with these variants), and takes the
        front of the test before away. The front's load (500 requests, PROFILE=default's
        28,000 ports) leaves next to nothing in TIME_WAIT within the repro range, and nothing after this test
        loads app1 (the single-host tests that follow use db1)."""
        started = time.monotonic()
        result, _ = provision("asgi-pool", "repro", "--limit", "app1")
        assert set(result) == {"app1"} and result["app1"]["failed"] == 0
        # the inventory's churnlab_front (none) took the front of the test before away
        assert status("loadgen1", HTTPS_URL) == "000"
        assert ssh("app1", "test -e /etc/ansible/facts.d/churnlab_front.fact").returncode == 1
        g = gunicorn()
        assert (g["using"], g["WORKER_CLASS"], g["WORKERS"], g["CONN_MAX_AGE"]) == \
            ("uvicorn_worker.UvicornWorker", "uvicorn", "6", "0"), g
        run = load()
        assert run["versions"]["app"]["django"].startswith("5.2.") and run["app_settings"]["DB_POOL"] == "native"
        assert run["summary"]["status_counts"] == {"200": SHORT}, run["summary"]
        assert 0 < run["db"]["peak_client_backends"] <= 6 * 40
        assert run["verdict"]["case"] == "healthy", run["verdict"]
        assert "within workers x pool max_size = 240 (native pool)" in run["verdict"]["headline"]
        TIMINGS["asgi_pool_s"] = round(time.monotonic() - started, 1)

        # The pool's connections, closed by the restart, wait in TIME_WAIT (about 170 of the 1,000 ports):
        # the leak fills the rest all the same.
        result, _ = provision("asgi", "repro", "--limit", "app1")
        assert set(result) == {"app1"} and result["app1"]["failed"] == 0
        assert (gunicorn()["CONN_MAX_AGE"], gunicorn()["using"]) == ("600", "uvicorn_worker.UvicornWorker")
        run = load()
        db = LAB_HOSTS["db1"]
        assert run["verdict"]["case"] == "connection-leak", run["verdict"]
        head = run["verdict"]["headline"]
        assert head.startswith("connections leak (") and "while at most 6 requests can use one at once" in head
        assert f"held the app host's ports toward {db}:5432" in head and eaddrnotavail(run) >= 500, head
        TIMINGS["asgi_s"] = round(time.monotonic() - started, 1)


class TestSingleHost:
    """inventories/lab-single: the app, PgBouncer and PostgreSQL on db1, as in the incident. Its fix on that
    one host (gthread) is the hand-deployed host's test on db1 (TestLabHosts): the same host and load."""

    def test_single_host_converges(self, hosts):
        started = time.monotonic()
        result, _ = provision("direct", "repro", inventory="inventories/lab-single")
        TIMINGS["single_converge_s"] = round(time.monotonic() - started, 1)
        assert set(result) == {"db1", "loadgen1"}
        assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in result.values()), result
        assert listening("db1", 8000) == {"127.0.0.1", LAB_HOSTS["db1"]}
        settings = json.loads(ssh("db1", "cat /etc/ansible/facts.d/churnlab_app.fact").stdout)["settings"]
        assert (settings["DB_HOST"], settings["DB_PORT"]) == (LAB_HOSTS["db1"], "5432")

    def test_single_host_reproduces_the_incident(self, hosts):
        started = time.monotonic()
        run = load("inventories/lab-single")
        TIMINGS["single_direct_load_s"] = round(time.monotonic() - started, 1)
        TIMINGS["single_errors"] = eaddrnotavail(run)
        assert run["selection"]["variant"] == "direct" and run["selection"]["profile"] == "repro"
        assert eaddrnotavail(run) > 1000, run["app_errors"]
        assert run["verdict"]["case"] == "port-exhaustion-postgres", run["verdict"]
