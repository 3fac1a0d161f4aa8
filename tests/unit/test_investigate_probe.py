"""The probe on a directory laid out like /proc: the app server and its worker
class from each source, the destinations and their budget, the errors, the
verdict, the snapshot's round trip and its redaction."""
import json
import os
import stat

import pytest

from churnlab import diagnosis
from churnlab.investigate import args, probe, procs, snapshot, verdict
from tests.unit.investigate_fakes import FakeProc

GUNICORN = ["/srv/venv/bin/python3", "/srv/venv/bin/gunicorn", "myapp.wsgi:application"]
CONFIG = "import os\nworker_class = os.environ.get('WORKER_CLASS', 'eventlet')\nworkers = 6\n" \
         "bind = f\"0.0.0.0:{os.environ.get('GUNICORN_PORT', '8000')}\"\n"
GREENLET = "7f00-7f10 r-xp 0 08:01 1 /srv/venv/lib/python3.11/site-packages/greenlet/_greenlet.cpython-311.so\n"
LOG = "2026-12-02 19:40:{s:02d},789 ERROR roles healthz-db-error OperationalError: connection to server at " \
      "\"db\" (172.18.0.2), port 5432 failed: Cannot assign requested address"


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    monkeypatch.setattr(probe.time, "sleep", lambda s: None)  # the samples, without waiting for them
    return FakeProc(tmp_path / "proc")


def _server(fake, argv, environ=None, files=None, maps="", workers=2):
    fake.process(100, 1, argv, environ if environ is not None else {}, files, maps)
    for i in range(workers):
        fake.process(101 + i, 100, argv, environ if environ is not None else {}, maps=maps)
    found = procs.find(str(fake.root))
    assert [s.master for s in found] == [100]
    return found[0]


@pytest.mark.parametrize("argv_extra,environ,files,maps,log_line,expected,source", [
    (["-k", "gevent"], {"WORKER_CLASS": "gthread"}, {"gunicorn.conf.py": CONFIG}, "", "", "gevent", "command line"),
    (["--worker-class=gunicorn.workers.ggevent.GeventWorker"], {}, {}, "", "", "gevent", "command line"),
    ([], {"GUNICORN_CMD_ARGS": "--worker-class eventlet --workers 3"}, {}, "", "", "eventlet", "GUNICORN_CMD_ARGS"),
    (["-c", "/etc/app/gunicorn.py"], {"WORKER_CLASS": "gthread"}, {"/etc/app/gunicorn.py": CONFIG}, "", "",
     "gthread", "config /etc/app/gunicorn.py"),
    ([], {}, {"gunicorn.conf.py": CONFIG}, "", "", "eventlet", "config gunicorn.conf.py"),
    ([], {}, {}, "", "[INFO] Using worker: eventlet", "eventlet", "log: Using worker"),
    ([], {}, {}, GREENLET, "", "greenlet", "maps"),
    ([], {}, {}, "", "", "sync", "gunicorn's default"),
    (["--threads", "8"], {}, {}, "", "", "gthread", "gunicorn's default (sync with threads > 1 runs as gthread)"),
], ids=["cli-over-config", "class-path", "cmd-args", "config-abs", "config-cwd", "log", "maps", "default",
        "sync-threads"])
def test_worker_class_comes_from_gunicorns_own_order(fake, argv_extra, environ, files, maps, log_line, expected,
                                                      source):
    server = _server(fake, GUNICORN + argv_extra, environ, files, maps)
    procs.decide(server, log_line.partition("Using worker: ")[2])
    assert (server.worker_class, server.worker_class_from) == (expected, source)
    assert len(server.workers) == 2 and server.unit == "app.service"


def test_setproctitle_names_and_counts(fake):
    fake.process(100, 1, ["gunicorn: master [myapp.wsgi:application]"], {})
    for pid in (101, 102, 103):
        fake.process(pid, 100, ["gunicorn: worker [myapp.wsgi:application]"], {})
    fake.process(200, 1, ["uwsgi", "--ini", "/etc/uwsgi.ini"], {})
    fake.process(300, 1, ["/usr/bin/python3", "-m", "uvicorn", "app:app"], {})
    fake.process(400, 1, ["/usr/bin/python3", "/srv/not-a-server.py"], {})
    found = {s.server: s for s in procs.find(str(fake.root))}
    assert set(found) == {"gunicorn", "uwsgi", "uvicorn"}
    assert found["gunicorn"].workers == [101, 102, 103]


def test_an_unreadable_environment_is_said_not_guessed(fake):
    fake.process(100, 1, GUNICORN, None, {"gunicorn.conf.py": CONFIG})
    unreadable = []
    server = procs.find(str(fake.root), unreadable)[0]
    procs.decide(server)
    assert server.environ_read is False and "worker_class" in server.config_unresolved
    assert any("not resolved (the process's environment could not be read)" in u for u in unreadable)


def _incident(fake, tmp_path, seconds: int = 8):
    """The incident as the probe finds it: eventlet workers, the port range full of TIME_WAIT toward db."""
    _server(fake, GUNICORN + ["-c", "gunicorn.conf.py"], {"GUNICORN_PORT": "8000", "CONN_MAX_AGE": "0"},
            {"gunicorn.conf.py": CONFIG}, GREENLET, workers=6)
    rows = [("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "TIME_WAIT") for i in range(990)]
    rows += [("0.0.0.0", 8000, "0.0.0.0", 0, "LISTEN"), ("127.0.0.1", 5432, "0.0.0.0", 0, "LISTEN"),
             ("127.0.0.1", 5432, "127.0.0.1", 50999, "ESTABLISHED")]  # a local Postgres's own side: not counted
    fake.sockets(rows, queued=7)
    log = tmp_path / "app.log"
    log.write_text("\n".join(LOG.format(s=s) for s in range(seconds)) + "\n[INFO] Using worker: eventlet\n")
    return args.check(seconds="2", log=str(log))


def test_the_incident_is_port_exhaustion_toward_db_with_eventlet_workers(fake, tmp_path):
    snap = probe.run(_incident(fake, tmp_path), str(fake.root))
    assert snap.destinations == {"db:5432": "172.18.0.2:5432"}  # named as the errors name it
    assert snap.states == {"db:5432": {"TIME_WAIT": 990}} and len(snap.netns) == 3
    assert snap.listen == {"8000": 7}
    assert snap.errors.kinds[0]["count"] == 8 and snap.errors.kinds[0]["first"] == "2026-12-02T19:40:00Z"
    v = verdict.verdict_of(snap)
    assert v.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert v.headline.startswith("ephemeral port exhaustion toward db:5432: 990 of 1,000 local ports in use")
    assert "CONN_MAX_AGE=0" in v.headline and "eventlet" in v.headline
    assert any(line.startswith("worker class eventlet: churns") for line in v.evidence)
    assert any(line.startswith("port budget toward db:5432") for line in v.evidence)
    assert v.fixes[0].shown_by == "VARIANT=gthread"


def test_gthread_without_errors_is_healthy_and_bounded(fake, tmp_path):
    _server(fake, GUNICORN + ["-k", "gthread", "-w", "20", "--threads", "40"], {}, workers=20)
    fake.sockets([("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "ESTABLISHED") for i in range(800)])
    log = tmp_path / "app.log"
    log.write_text("[INFO] Using worker: gthread\n")
    v = verdict.verdict_of(probe.run(args.check(seconds="1", log=str(log)), str(fake.root)))
    assert v.case == diagnosis.HEALTHY and "within workers x threads = 800" in v.headline
    assert any(line.startswith("worker class gthread: holds") for line in v.evidence)


def test_without_a_log_the_verdict_does_not_say_healthy(fake):
    fake.sockets([])
    v = verdict.verdict_of(probe.run(args.check(seconds="1"), str(fake.root)))
    assert v.case == diagnosis.UNCLASSIFIED and "no journal or log was read" in v.headline


def test_reserved_ports_are_not_in_the_budget(fake, tmp_path):
    fake.sysctl("ip_local_reserved_ports", "50900-50999,8000")
    fake.sockets([])
    assert probe.run(args.check(seconds="1"), str(fake.root)).sysctls["port_range_size"] == 900


def test_the_snapshot_round_trip_gives_the_same_verdict(fake, tmp_path):
    snap = probe.run(_incident(fake, tmp_path), str(fake.root))
    path = snapshot.write(str(tmp_path / "snap.json"), snap)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = snapshot.read(path)
    assert json.loads(open(path).read())["version"] == snapshot.VERSION
    assert verdict.report(again) == verdict.report(snap)
    assert verdict.verdict_of(again) == verdict.verdict_of(snap)


SEEDS = ("s33d-env-token", "s33d-dsn-pass", "s33d-config-pass", "s33d-argv-pass", "MIIEs33dPEMbody", "s33d-kv")
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{SEEDS[4]}\n-----END RSA PRIVATE KEY-----"


def test_seeded_secrets_appear_nowhere_in_the_snapshot(fake, tmp_path):
    environ = {"API_TOKEN": SEEDS[0], "DATABASE_URL": f"postgres://app:{SEEDS[1]}@db:5432/app",
               "TLS_BUNDLE": PEM, "LIBPQ_DSN": f"host=db password={SEEDS[5]} user=app", "DB_PASSWORD": SEEDS[2]}
    config = (CONFIG + "db_password = os.environ['DB_PASSWORD']\nsecret_key = 'x'\n"
              "dsn = f\"postgresql://app:{os.environ['DB_PASSWORD']}@db/app\"\n"
              f"keyfile_text = {PEM!r}\n")
    _server(fake, GUNICORN + ["-c", "gunicorn.conf.py", f"--db-password={SEEDS[3]}", "--password", SEEDS[3]],
            environ, {"gunicorn.conf.py": config})
    fake.sockets([])
    log = tmp_path / "app.log"  # the log's lines are counted, never kept
    log.write_text(f"FATAL: password authentication failed for postgres://app:{SEEDS[1]}@db too many clients\n")
    path = tmp_path / "snap.json"
    snapshot.write(str(path), probe.run(args.check(seconds="1", log=str(log)), str(fake.root)))
    written = path.read_text()
    for seed in SEEDS:
        assert seed not in written, seed
    app = json.loads(written)["app_servers"][0]
    assert app["config"]["db_password"] == app["config"]["secret_key"] == "<redacted>"
    assert app["config"]["dsn"] == "postgresql://app:<redacted>@db/app"
    assert app["config"]["workers"] == 6 and app["environ"]["API_TOKEN"] == "<redacted>"
    assert app["environ"]["LIBPQ_DSN"] == "host=db password=<redacted> user=app"


def test_redaction_on_the_fake_host_keeps_the_evidence(fake, tmp_path):
    _server(fake, GUNICORN + ["--password", "hunter2"], {"DATABASE_URL": "postgres://app:pw@db:5432/x",
                                                        "WORKER_CLASS": "gevent"})
    (tmp_path / "app.log").write_text("")  # else the probe reads its unit's journal (app.service)
    snap = probe.run(args.check(seconds="1", log=str(tmp_path / "app.log")), str(fake.root))
    app = snap.app
    assert app.environ == {"DATABASE_URL": "postgres://app:<redacted>@db:5432/x", "WORKER_CLASS": "gevent"}
    assert app.cmdline[-2:] == ["--password", "<redacted>"]


def test_a_server_whose_files_could_not_be_read_gets_no_guessed_default():
    server = procs.AppServer("gunicorn", 100, blind=True)
    procs.decide(server)
    assert server.worker_class == "" and server.worker_class_from.startswith("unknown: its environment")
    seen = procs.AppServer("gunicorn", 100, blind=True, sources={"command line": "gevent"})
    procs.decide(seen)
    assert seen.worker_class == "gevent"


def test_the_servers_own_unit_journal_is_read_with_journalctl_read_only(fake, monkeypatch):
    import subprocess

    from churnlab.investigate import logs

    calls = []

    def journalctl(argv, **kwargs):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "2026-12-02T19:40:55+00:00 app1 gunicorn[7]: [INFO] Using "
                                                    "worker: eventlet\n", "")

    monkeypatch.setattr(logs.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(logs.subprocess, "run", journalctl)
    _server(fake, GUNICORN, {})
    fake.sockets([])
    snap = probe.run(args.check(seconds="1"), str(fake.root))
    assert calls == [["journalctl", "-u", "app.service", "--no-pager", "--utc", "-o", "short-iso", "-n", "200000"]]
    assert snap.errors.source == "journal unit app.service (the app server's unit)"
    assert (snap.app.worker_class, snap.app.worker_class_from) == ("eventlet", "log: Using worker")
