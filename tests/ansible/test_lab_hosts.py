"""Ansible for real, on the lab hosts (systemd + sshd containers reached over SSH).

One session: hosts up; converge direct + repro twice (the second run must
change nothing); check the settings are in effect on each host; reproduce the
incident with the ab scenario from loadgen1 against app1; re-provision with
gthread and show the same load gives zero errors; hosts down.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.ansible.conftest import LAB_HOSTS, ROOT, env, lab_host_containers, make, recap, ssh

pytestmark = [pytest.mark.e2e, pytest.mark.hosts]

LOAD = ["SCENARIO=ab", "VUS=500", "ITERATIONS=10000", "KEEPALIVE=0"]
REPRO = {"net.ipv4.ip_local_port_range": "50000 50999", "net.ipv4.tcp_tw_reuse": "0"}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def hosts():
    make("hosts-down", timeout=180)
    started = time.monotonic()
    make("hosts-up", timeout=600, check=True)
    TIMINGS["hosts_up_s"] = round(time.monotonic() - started, 1)
    yield
    proc = make("hosts-down", timeout=180)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "ansible-lab-timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert lab_host_containers() == []


def provision(variant: str, profile: str) -> tuple[dict, str]:
    started = time.monotonic()
    proc = make("provision", "INVENTORY=inventories/lab", f"VARIANT={variant}", f"PROFILE={profile}", timeout=900)
    TIMINGS.setdefault("provision_s", []).append(round(time.monotonic() - started, 1))
    assert proc.returncode == 0, f"provision {variant} {profile} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return recap(proc.stdout), proc.stdout


def load() -> dict:
    before = set((ROOT / "results").glob("*-ab-c500")) if (ROOT / "results").exists() else set()
    started = time.monotonic()
    proc = make("provision-load", "INVENTORY=inventories/lab", *LOAD, timeout=900)
    TIMINGS.setdefault("load_s", []).append(round(time.monotonic() - started, 1))
    assert proc.returncode == 0, f"load failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    new = sorted(set((ROOT / "results").glob("*-ab-c500")) - before)
    assert len(new) == 1, f"expected one new results folder, got {new}"
    run_dir = new[0]
    for name in ("k6-summary.json", "k6.log", "app.log", "postgres.jsonl", "netns.jsonl", "run.json"):
        assert (run_dir / name).is_file(), f"{run_dir.name}: {name} is missing"
    return json.loads((run_dir / "run.json").read_text())


def eaddrnotavail(run: dict) -> int:
    return sum(e["count"] for e in run["app_errors"] if "Cannot assign requested address" in e["kind"])


def wait_time_wait_drained(limit: int = 50, timeout: float = 90) -> None:
    """Start the next load from a clean slate: no TIME_WAIT ports left on app1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = int(ssh("app1", "ss -Htan state time-wait | wc -l").stdout.strip() or 0)
        if n <= limit:
            return
        time.sleep(3)


def gunicorn(host: str = "app1") -> dict:
    out = ssh(host, "pid=$(systemctl show -p MainPID --value churnlab-app); "
                    "echo workers=$(pgrep -c -P $pid); "
                    "journalctl -u churnlab-app -o cat --no-pager | grep -o 'Using worker: .*' | tail -1; "
                    "tr '\\0' '\\n' </proc/$pid/environ | grep -E '^(WORKER_CLASS|WORKERS|THREADS|CONN_MAX_AGE)='"
              ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    values["using"] = next((line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Using")), "")
    return values


class TestLabHosts:
    state: dict = {}

    def test_first_converge_succeeds(self, hosts):
        started = time.monotonic()
        first, _ = provision("direct", "repro")
        TIMINGS["first_converge_s"] = round(time.monotonic() - started, 1)
        assert set(first) == set(LAB_HOSTS)
        assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first.values()), first
        assert all(r["changed"] > 0 for r in first.values()), first

    def test_second_converge_changes_nothing(self, hosts):
        started = time.monotonic()
        second, out = provision("direct", "repro")
        TIMINGS["second_converge_s"] = round(time.monotonic() - started, 1)
        changed = {h: r["changed"] for h, r in second.items()}
        assert set(second) == set(LAB_HOSTS)
        assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in second.values()), second
        assert changed == dict.fromkeys(LAB_HOSTS, 0), "not idempotent:\n" + "\n".join(
            line for line in out.splitlines() if line.startswith("changed:"))

    def test_postgres_runs_the_incident_settings(self, hosts):
        out = ssh("db1", "runuser -u postgres -- psql -XAtq -d postgres "
                         "-c 'SHOW max_connections' -c 'SHOW shared_buffers' -c 'SHOW password_encryption'"
                         " -c 'SHOW work_mem' -c \"SELECT datname FROM pg_database WHERE datname = 'lab'\"").stdout
        assert out.split() == ["4096", "256MB", "scram-sha-256", "1MB", "lab"]

    def test_pg_hba_admits_only_app_and_pgbouncer(self, hosts):
        out = ssh("db1", "grep -hE '^host' /etc/postgresql/*/main/pg_hba.conf").stdout
        rows = [line.split() for line in out.splitlines()]
        assert sorted(r[3] for r in rows) == sorted([f"{LAB_HOSTS['app1']}/32", f"{LAB_HOSTS['pgbouncer1']}/32"])
        assert {r[4] for r in rows} == {"scram-sha-256"}

    def test_sysctls_match_the_repro_profile(self, hosts):
        for key, value in REPRO.items():
            assert ssh("app1", f"sysctl -n {key}").stdout.split() == value.split()
        persisted = ssh("app1", "cat /etc/sysctl.d/60-churnlab.conf").stdout
        for key, value in REPRO.items():
            assert f"{key}={value}" in persisted.replace(" = ", "=")

    def test_gunicorn_runs_the_direct_variant(self, hosts):
        g = gunicorn()
        assert g["using"] == "eventlet"
        assert (g["WORKER_CLASS"], g["WORKERS"], g["CONN_MAX_AGE"]) == ("eventlet", "6", "0")
        assert int(g["workers"]) == 6
        mode = ssh("app1", "stat -c %a:%U /etc/churnlab/app.env").stdout.strip()
        assert mode == "600:root"

    def test_pgbouncer_accepts_connections(self, hosts):
        password = (ROOT / ".secrets" / "lab-hosts" / "db_password").read_text().strip()
        out = ssh("pgbouncer1", "read -r PGPASSWORD; export PGPASSWORD; "
                                "psql -XAtq -h 127.0.0.1 -p 6432 -U lab -d lab -c 'SELECT 40 + 2' && "
                                "psql -XAtq -h 127.0.0.1 -p 6432 -U lab -d pgbouncer -c 'SHOW CONFIG' "
                                "| grep -E '^(pool_mode|default_pool_size)\\|'", stdin=password + "\n")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.split()
        assert lines[0] == "42"
        assert any(line.startswith("pool_mode|transaction") for line in lines)
        assert any(line.startswith("default_pool_size|20") for line in lines)

    def test_k6_on_loadgen(self, hosts):
        assert ssh("loadgen1", "k6 version").stdout.startswith("k6 v1.1.0")

    def test_incident_reproduced_direct_repro(self, hosts):
        run = load()
        self.state["direct"] = run
        assert run["selection"]["variant"] == "direct" and run["selection"]["profile"] == "repro"
        assert run["summary"]["requests"] == 10000
        assert eaddrnotavail(run) > 1000, run["app_errors"]
        assert run["summary"]["status_counts"].get("499", 0) >= eaddrnotavail(run) * 0.9
        assert run["db"]["max_connections"] == 4096
        # The same evidence and verdict as the compose lab, from the hosts.
        db = LAB_HOSTS["db1"]
        assert run["verdict"]["case"] == "port-exhaustion-postgres", run["verdict"]
        assert run["verdict"]["headline"].startswith(f"ephemeral port exhaustion toward {db}:5432")
        assert run["evidence"]["peak_port_use_pct"] >= 95
        # diagnose.yml, read-only, on the live hosts right after the load.
        proc = make("provision-diagnose", "INVENTORY=inventories/lab", "DIAG_SECONDS=2", timeout=300)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "verdict (port-exhaustion-postgres)" in proc.stdout
        assert f"toward {db}:5432" in proc.stdout
        assert recap(proc.stdout)["app1"]["changed"] == 0
        # The same verdict in check mode (every task of diagnose.yml only reads).
        proc = make("provision-diagnose", "INVENTORY=inventories/lab", "DIAG_SECONDS=1", "ANSIBLE_ARGS=--check",
                    timeout=300)
        assert proc.returncode == 0 and "verdict (port-exhaustion-postgres)" in proc.stdout, proc.stdout[-3000:]

    def test_failing_k6_leaves_no_probe_on_any_host(self, hosts):
        """k6 killed mid-run: load.yml stops its probes anyway and records the run as failed."""
        before = set((ROOT / "results").glob("*-ab-c50/run.json"))
        proc = subprocess.Popen(["make", "-s", "provision-load", "INVENTORY=inventories/lab", "SCENARIO=ab",
                                 "VUS=50", "ITERATIONS=10000000"], cwd=ROOT, env=env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while ssh("loadgen1", "pgrep -x k6").returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "k6 never started"
            time.sleep(1)
        time.sleep(2)
        probes = "pgrep -fa '[c]hurnlab_probe=' || true"
        assert "psql" in ssh("db1", probes).stdout and "churnlab-sockets" in ssh("app1", probes).stdout
        ssh("loadgen1", "pkill -KILL -x k6")
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode != 0 and "k6 failed (exit 137)" in out, out[-3000:]
        for host in LAB_HOSTS:
            assert ssh(host, probes).stdout.strip() == "", host
            assert ssh(host, "ls -d /tmp/churnlab-load-* 2>/dev/null || true").stdout.strip() == "", host
        (run_json,) = set((ROOT / "results").glob("*-ab-c50/run.json")) - before
        run = json.loads(run_json.read_text())
        assert run["status"] == "failed" and run["problems"][0].startswith("k6 failed (exit 137)"), run["problems"]

    def test_gthread_fixes_it(self, hosts):
        # A clean slate first, like the compose lab's fresh stack: the direct
        # run left app1's port range in TIME_WAIT for up to a minute.
        wait_time_wait_drained()
        result, _ = provision("gthread", "repro")
        assert all(r["failed"] == 0 for r in result.values())
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
        assert run["summary"]["requests"] == 10000
        assert run["app_errors"] == []
        counts = run["summary"]["status_counts"]
        # No DB error (no 499). A k6 transport failure (status 0) is not one; it stays rare.
        assert counts.get("499", 0) == 0 and set(counts) <= {"200", "0"}, counts
        assert counts.get("0", 0) <= 10, counts
        assert run["db"]["peak_client_backends"] <= 20 * 40
        assert run["verdict"]["case"] == "healthy", run["verdict"]
