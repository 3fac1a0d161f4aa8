"""Unit tests: seconds, no Docker, and no subprocess to make, compose, k6 or ansible.

`cli` runs the real command line in-process (churnlab.cli.main, the console
script's entry point) with make's variables in the environment; `no_processes`
fails a test that would start one (the boundary a bad input must never reach)."""
from __future__ import annotations

import ipaddress
import socket
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import settings

from churnlab import cli as cli_module
from tests.helpers import MAKE_INHERITED, STEERING

# The property tests (test_properties_*.py): the same examples on every run (CI repeats what a
# laptop saw, no example database), no per-example deadline (a 2-core CI machine is slow),
# few enough examples that the whole unit suite stays in seconds.
settings.register_profile("churnlab", derandomize=True, database=None, deadline=None, max_examples=100)
settings.load_profile("churnlab")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (*STEERING, *MAKE_INHERITED):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture(autouse=True)
def no_measured_ranking(monkeypatch, tmp_path):
    """The diagnosis's fixes follow the latest results/rank-*/rank.json; unit tests see none
    unless they write one (tests/unit/test_rank.py)."""
    from churnlab.diagnosis import ranking

    monkeypatch.setattr(ranking, "RANK_RESULTS", tmp_path / "no-rank")


@pytest.fixture(autouse=True)
def no_route_but_loopback(monkeypatch):
    """No unit test reaches past loopback: the ones that hand the production
    inventory to the front door fake its boundaries, and a bug that tried to
    connect anywhere else fails here instead of sending a packet."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(sock: socket.socket, address) -> None:
        if sock.family == socket.AF_UNIX:
            return
        host = address[0] if isinstance(address, tuple) else str(address)
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise AssertionError(f"a unit test tried to connect to {address!r}")

    def connect(sock, address):
        allowed(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        allowed(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def no_docker(monkeypatch):
    """No unit test talks to Docker: a `docker ...` process fails the test (threads included:
    the refusal is raised where it was tried, and listed here too)."""
    tried: list = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def docker(argv) -> bool:
        first = argv[0] if isinstance(argv, (list, tuple)) and argv else str(argv).split(" ")[0]
        return str(first).rsplit("/", 1)[-1] == "docker"

    def run(argv, *args, **kwargs):
        if docker(argv):
            tried.append(argv)
            raise AssertionError(f"a unit test tried to run {argv!r}")
        return real_run(argv, *args, **kwargs)

    class Popen(real_popen):
        def __init__(self, argv, *args, **kwargs):
            if docker(argv):
                tried.append(argv)
                raise AssertionError(f"a unit test tried to start {argv!r}")
            super().__init__(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Popen)
    yield
    assert tried == [], f"docker was called: {tried}"


@pytest.fixture()
def started(monkeypatch):
    """Every process the code under test tried to start (none are started)."""
    calls: list = []

    def refuse(argv, *args, **kwargs):
        calls.append(argv)
        raise AssertionError(f"a unit test tried to start {argv!r}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    return calls


@pytest.fixture()
def no_processes(started):
    """`started`, and the test fails at its end if anything tried to start a process
    (for tests that hand the production inventory to the guard: ansible or ssh would be the way out)."""
    yield
    assert started == [], f"a process was started: {started}"


@pytest.fixture()
def cli(monkeypatch, capsys, started):
    def run(*args: str, **env: str) -> Outcome:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli_module.main(list(args))
        out = capsys.readouterr()
        code = exit_info.value.code
        return Outcome(code if isinstance(code, int) else 1, out.out, out.err)

    return run
