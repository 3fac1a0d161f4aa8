"""Each case of the diagnosis, from synthetic /proc and ss output, no Docker.

The evidence script runs as it would on a host (a subprocess of python3 with
--proc-root / --ss-output); its records and synthetic app log lines go through
the same Facts and verdict code a lab run uses."""
import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from churnlab import diagnosis
from churnlab.evidence import app_errors, sockets

SCRIPT = Path(sockets.__file__)
HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
STATE_HEX = {"ESTABLISHED": "01", "TIME_WAIT": "06", "LISTEN": "0A", "SYN_SENT": "02"}
SS_NAME = {"ESTABLISHED": "ESTAB", "TIME_WAIT": "TIME-WAIT", "LISTEN": "LISTEN", "SYN_SENT": "SYN-SENT"}
APP_IP = "127.0.0.1"


def _hex(ip: str, port: int) -> str:
    return f"{struct.unpack('<I', socket.inet_aton(ip))[0]:08X}:{port:04X}"


def fake_host(tmp_path: Path, rows, port_range=(50000, 50999), tw_reuse=0) -> Path:
    """A directory laid out like /proc, plus the same sockets as `ss -tan` prints them."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "sys" / "net" / "ipv4").mkdir(parents=True)
    lines = [HEADER]
    ss_lines = ["State      Recv-Q Send-Q Local Address:Port  Peer Address:Port Process"]
    for i, (lport, rip, rport, state) in enumerate(rows):
        lines.append(f"{i:4d}: {_hex(APP_IP, lport)} {_hex(rip, rport)} {STATE_HEX[state]} "
                     "00000000:00000000 00:00000000 00000000     0        0 0\n")
        ss_lines.append(f"{SS_NAME[state]:<10} 0      0      {APP_IP}:{lport}  {rip}:{rport}")
    (proc / "net" / "tcp").write_text("".join(lines))
    (proc / "net" / "tcp6").write_text(HEADER)
    (proc / "sys" / "net" / "ipv4" / "ip_local_port_range").write_text(f"{port_range[0]}\t{port_range[1]}\n")
    (proc / "sys" / "net" / "ipv4" / "tcp_tw_reuse").write_text(f"{tw_reuse}\n")
    (tmp_path / "ss.txt").write_text("\n".join(ss_lines) + "\n")
    return proc


def sample(proc: Path, *targets: str, use_ss: bool = False) -> dict:
    argv = [sys.executable, str(SCRIPT), "--proc-root", str(proc), "--count", "1"]
    if use_ss:
        argv += ["--ss-output", str(proc.parent / "ss.txt")]
    for target in targets:
        argv += ["--target", target]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def log_lines(n: int, message: str) -> list[str]:
    return [f"2026-11-24 21:37:{i % 60:02d},000 ERROR roles healthz-db-error OperationalError: {message}"
            for i in range(n)]


def facts(records, errors, settings, requests=10000, variant=None, profile=None) -> diagnosis.Facts:
    counts = app_errors.count(errors)
    f = diagnosis.Facts(settings=settings, variant=variant, profile=profile, keepalive=False, requests=requests,
                        failed=sum(counts.values()), errors=app_errors.as_records(counts))
    return diagnosis.facts_from_evidence(records, f)


EVENTLET = {"WORKER_CLASS": "eventlet", "WORKERS": "6", "THREADS": "1", "CONN_MAX_AGE": "0",
            "DB_HOST": "localhost", "DB_PORT": "5432"}
PG = {"ts": 1.0, "source": "postgres", "client_backends": 240, "by_state": {"active": 6, "idle": 234},
      "max_connections": 4096}


@pytest.mark.parametrize("use_ss", [False, True], ids=["proc", "ss"])
def test_port_exhaustion_toward_postgres(tmp_path, use_ss):
    rows = [(50000 + i, "127.0.0.1", 5432, "TIME_WAIT") for i in range(998)] + [(8000, "0.0.0.0", 0, "LISTEN")]
    rec = sample(fake_host(tmp_path, rows), "localhost:5432", use_ss=use_ss)
    assert rec["targets"]["localhost:5432"]["time_wait"] == 998
    assert rec["local_ports_in_use"] == 998 and rec["port_use_pct"] == 99.8
    errors = log_lines(8910, 'connection to server at "localhost" (127.0.0.1), port 5432 failed: '
                             "Cannot assign requested address")
    verdict = diagnosis.diagnose(facts([rec, PG], errors, EVENTLET, variant="direct", profile="repro"))
    assert verdict.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert verdict.headline.startswith("ephemeral port exhaustion toward localhost:5432: 998 of 1,000 local ports")
    assert "tcp_tw_reuse=0" in verdict.headline
    assert "8,910 of 10,000 requests failed with EADDRNOTAVAIL" in verdict.headline
    assert "a new DB connection per request (CONN_MAX_AGE=0)" in verdict.headline
    assert [f.shown_by for f in verdict.fixes] == ["VARIANT=gthread", "VARIANT=pgbouncer-local", "PROFILE=tuned"]
    assert "peak TIME_WAIT toward localhost:5432: 998" in verdict.evidence[0]


def test_persistent_connections_under_eventlet_get_their_own_cause(tmp_path):
    rows = [(50000 + i, "127.0.0.1", 5432, "TIME_WAIT") for i in range(1000)]
    rec = sample(fake_host(tmp_path, rows), "localhost:5432")
    errors = log_lines(50, 'connection to server at "localhost" (127.0.0.1), port 5432 failed: '
                           "Cannot assign requested address")
    verdict = diagnosis.diagnose(facts([rec], errors, {**EVENTLET, "CONN_MAX_AGE": "600"}, variant="persistent"))
    assert "greenlet-local connections under eventlet with no HTTP keep-alive" in verdict.headline


def test_port_exhaustion_moved_to_the_pgbouncer_hop(tmp_path):
    rows = [(50000 + i, "127.0.0.2", 6432, "TIME_WAIT") for i in range(1000)]
    rows += [(40000 + i, "127.0.0.3", 5432, "ESTABLISHED") for i in range(3)]  # PgBouncer's own, elsewhere
    rec = sample(fake_host(tmp_path, rows), "127.0.0.2:6432")
    errors = log_lines(8040, 'connection to server at "127.0.0.2" (127.0.0.2), port 6432 failed: '
                             "Cannot assign requested address")
    bouncer = {"ts": 1.0, "source": "pgbouncer", "server_connections": 20, "clients_waiting": 0}
    verdict = diagnosis.diagnose(facts([rec, {**PG, "client_backends": 20}, bouncer], errors,
                                       {**EVENTLET, "DB_HOST": "127.0.0.2", "DB_PORT": "6432"}, variant="pgbouncer"))
    assert verdict.case == diagnosis.PORT_EXHAUSTION_PGBOUNCER
    assert "moved to the PgBouncer hop, toward 127.0.0.2:6432" in verdict.headline
    assert "Postgres itself was protected: client backends peaked at 20" in verdict.evidence
    assert verdict.fixes[0].shown_by == "VARIANT=pgbouncer-local"


def test_max_connections_reached(tmp_path):
    rows = [(50000 + i, "127.0.0.1", 5432, "ESTABLISHED") for i in range(400)]
    rec = sample(fake_host(tmp_path, rows, port_range=(32768, 60999), tw_reuse=2), "localhost:5432")
    errors = log_lines(120, 'connection to server at "localhost" (127.0.0.1), port 5432 failed: '
                            "FATAL:  sorry, too many clients already")
    pg = {**PG, "client_backends": 4093}
    verdict = diagnosis.diagnose(facts([rec, pg], errors, EVENTLET, variant="direct", profile="default"))
    assert verdict.case == diagnosis.MAX_CONNECTIONS
    assert "client backends peaked at 4,093 of max_connections=4,096" in verdict.headline


def test_unix_socket_backlog_full(tmp_path):
    rec = sample(fake_host(tmp_path, [(8000, "0.0.0.0", 0, "LISTEN")]))
    errors = log_lines(461, 'connection to server on socket "/run/pgbouncer/.s.PGSQL.6432" failed: '
                            "Resource temporarily unavailable")
    settings = {**EVENTLET, "DB_HOST": "/run/pgbouncer", "DB_PORT": "6432"}
    verdict = diagnosis.diagnose(facts([rec, {**PG, "client_backends": 20}], errors, settings,
                                       variant="pgbouncer-local", profile="repro"))
    assert verdict.case == diagnosis.SOCKET_BACKLOG
    assert verdict.headline.startswith("Unix socket listen backlog full at /run/pgbouncer/.s.PGSQL.6432: 461")
    assert "no ephemeral ports are involved" in verdict.headline


def test_healthy_run_states_its_bounds(tmp_path):
    rows = [(50000 + i, "127.0.0.1", 5432, "ESTABLISHED") for i in range(745)]
    rec = sample(fake_host(tmp_path, rows), "localhost:5432")
    settings = {**EVENTLET, "WORKER_CLASS": "gthread", "WORKERS": "20", "THREADS": "40", "CONN_MAX_AGE": "600"}
    verdict = diagnosis.diagnose(facts([rec, {**PG, "client_backends": 745}], [], settings, variant="gthread"))
    assert verdict.case == diagnosis.HEALTHY
    assert "DB connections peaked at 745, within workers x threads = 800" in verdict.headline
    assert "745 of 1,000 local ports" in verdict.headline
    assert verdict.fixes == []


def test_bad_arguments_are_refused():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--target", "no-port"], capture_output=True, text=True)
    assert proc.returncode != 0 and "target must be host:port" in proc.stderr
