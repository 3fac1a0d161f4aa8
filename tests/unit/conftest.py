"""Unit tests: seconds, no Docker, and no subprocess to make, compose, k6 or ansible.

`cli` runs the real command line in-process (churnlab.cli.main, the console
script's entry point) with make's variables in the environment; `no_processes`
fails a test that would start one (the boundary a bad input must never reach)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from churnlab import cli as cli_module
from tests.helpers import STEERING


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "250")


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
