"""Contract with the real k6 binary: it runs the lab's script against a loopback server whose
answers are known; the summary parser must report exactly those answers."""
import http.server
import itertools
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from churnlab.core.paths import ROOT
from churnlab.evidence.k6_summary import parse

K6 = shutil.which("k6") or str(ROOT / ".venv" / "bin" / "k6")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = itertools.count()
    connections: set = set()
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 - http.server's naming
        with self.lock:
            self.connections.add(self.client_address)
            n = next(self.counter)
        if self.path == "/api/v1/ping/":
            code = 200
        else:
            code = 499 if n % 4 == 0 else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    Handler.counter = itertools.count(1)  # the smoke check takes number 0... of its own path
    Handler.connections = set()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


def run_k6(server, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    base = {"TARGET": f"http://127.0.0.1:{server.server_address[1]}", "RESULTS_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    argv = [K6, "run", "--quiet", "--no-usage-report"]
    for key, value in {**base, **env}.items():
        argv += ["-e", f"{key}={value}"]
    return subprocess.run([*argv, str(ROOT / "k6" / "scenarios.js")], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def test_ab_scenario_counts_every_status_and_crosses_the_threshold(server, tmp_path):
    proc = run_k6(server, tmp_path, VUS=4, ITERATIONS=40)
    assert proc.returncode == 99, proc.stderr  # 25% failed: the error-rate threshold is crossed
    summary = parse(tmp_path / "k6-summary.json")
    assert summary.requests == 40  # the smoke check in setup() is not counted
    assert sum(summary.status_counts.values()) == 40
    assert summary.status_counts["499"] + summary.status_counts["200"] == 40
    assert summary.error_rate == pytest.approx(summary.status_counts["499"] / 40)
    assert 5 <= summary.status_counts["499"] <= 15
    assert summary.p50_ms is not None and summary.p95_ms >= summary.p50_ms
    assert summary.thresholds_passed is False
    assert summary.thresholds_crossed == ["http_req_failed rate<0.01"]  # named, so a slow run reads apart
    data = json.loads((tmp_path / "k6-summary.json").read_text())
    assert data["lab"]["keepalive"] is False and data["lab"]["vus"] == 4
    assert "run" not in data["lab"]  # the record is churnlab's, not k6's


def test_no_keepalive_means_a_new_connection_per_request(server, tmp_path):
    run_k6(server, tmp_path, VUS=2, ITERATIONS=20, ENDPOINT="/api/v1/ping/")
    without = len(Handler.connections)
    Handler.connections = set()
    proc = run_k6(server, tmp_path, VUS=2, ITERATIONS=20, ENDPOINT="/api/v1/ping/", KEEPALIVE=1)
    assert proc.returncode == 0, proc.stderr
    with_keepalive = len(Handler.connections)
    assert without >= 20  # one TCP connection per request, as ab does
    assert with_keepalive <= 4


def test_unknown_scenario_is_refused(server, tmp_path):
    proc = run_k6(server, tmp_path, SCENARIO="soak")
    assert proc.returncode != 0
    assert "unknown SCENARIO 'soak'" in proc.stdout + proc.stderr


def test_smoke_check_stops_the_run_when_the_app_is_down(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens there now

    class Gone:
        server_address = ("127.0.0.1", port)

    proc = run_k6(Gone, tmp_path, VUS=1, ITERATIONS=1)
    assert proc.returncode != 0
    assert "smoke check failed" in proc.stdout + proc.stderr


def test_ramp_scenario_raises_the_arrival_rate(server, tmp_path):
    proc = run_k6(server, tmp_path, SCENARIO="ramp", VUS=10, RAMP_START=5, RAMP_TARGET=25, RAMP_DURATION="2s",
                  ENDPOINT="/api/v1/ping/")
    assert proc.returncode == 0, proc.stderr
    summary = parse(tmp_path / "k6-summary.json")
    assert summary.scenario == "ramp"
    # About (5 + 25) / 2 requests/s over 2 s; arrival-rate executors start on schedule.
    assert 15 <= summary.requests <= 45
    assert summary.status_counts == {"200": summary.requests}


def test_k6_inspects_the_script():
    proc = subprocess.run([K6, "inspect", str(ROOT / "k6" / "scenarios.js")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_tls_insecure_accepts_the_fronts_self_signed_certificate_and_nothing_else_does(server, tmp_path):
    """FRONT=https: k6 reaches a self-signed TLS server only with TLS_INSECURE=1 (the lab's own front)."""
    import ssl

    from churnlab.core import secrets as lab_secrets

    tls = tmp_path / "tls"
    lab_secrets.ensure_front_tls(tls)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "front_cert", tls / "front_key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    target = f"https://127.0.0.1:{server.server_address[1]}"
    refused = run_k6(server, tmp_path, TARGET=target, VUS=1, ITERATIONS=2, ENDPOINT="/api/v1/ping/")
    assert refused.returncode != 0 and "smoke check failed" in refused.stderr + refused.stdout
    accepted = run_k6(server, tmp_path, TARGET=target, TLS_INSECURE="1", VUS=2, ITERATIONS=10,
                      ENDPOINT="/api/v1/ping/")
    assert accepted.returncode == 0, accepted.stderr
    assert parse(tmp_path / "k6-summary.json").status_counts["200"] == 10
