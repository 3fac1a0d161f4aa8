"""The HTTPS front's choices through the real command line (make's variables in
the environment): a bad one is one line, exit code 2, nothing started; good
ones reach lab.up (faked: the boundary), and the stack targets the front."""
import pytest

from churnlab.compose.stack import Stack
from churnlab.core import catalog

BAD = [
    ({"FRONT": "http2"}, "unknown FRONT 'http2'; valid FRONTs: none, https"),
    ({"FRONT": "HTTPS"}, "unknown FRONT 'HTTPS'"),
    ({"FRONT": "https", "HTTPS_PORT": "443"}, "HTTPS_PORT='443' must be a whole number from 1024 to 65535"),
    ({"FRONT": "https", "FRONT_KEEPALIVE": "-1"}, "FRONT_KEEPALIVE='-1' must be a whole number from 0 to 1024"),
]


@pytest.mark.parametrize("env,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_front_is_one_line_exit_2_and_starts_nothing(cli, started, env, message):
    out = cli("up", **env)
    assert out.code == 2, out
    assert out.stderr.splitlines() == [out.stderr.splitlines()[0]] and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and started == []


def test_the_front_reaches_lab_up(cli, monkeypatch):
    from churnlab.compose import lab

    chosen = []

    class Up(Exception):
        pass

    def fake_up(selection, app_port, **published):
        chosen.append({k: published[k] for k in ("front", "https_port", "front_keepalive")})
        raise Up

    monkeypatch.setattr(lab, "up", fake_up)
    with pytest.raises(Up):  # make exports every variable, set or not
        cli("up", FRONT="", HTTPS_PORT="", FRONT_KEEPALIVE="")
    with pytest.raises(Up):
        cli("up", FRONT="https", HTTPS_PORT="18443", FRONT_KEEPALIVE="32")
    assert chosen == [{"front": "none", "https_port": 8443, "front_keepalive": 0},
                      {"front": "https", "https_port": 18443, "front_keepalive": 32}]


def test_the_load_targets_the_front_when_there_is_one():
    selection = catalog.Selection.of("gthread", "default")
    assert Stack(selection).target() == "http://app:8000"
    https = Stack(selection, front="https", https_port=18443, front_keepalive=8)
    assert https.target() == "https://front:8443"
    assert "front-https.yml" in " ".join(https.argv("config"))
    assert "front-https.yml" not in " ".join(Stack(selection).argv("config"))
    env = https.env()
    assert (env["HTTPS_PORT"], env["FRONT_KEEPALIVE"]) == ("18443", "8")
