"""uwsgi, uvicorn, daphne and granian on a directory laid out like /proc: each
read as it reads its own settings (command line, environment, uwsgi's ini),
never run; the concurrency model, the counts, and why it churns or holds."""
import json

import pytest

from churnlab import diagnosis
from churnlab.diagnosis.workers import worker_class_lines
from churnlab.investigate import args, probe, procs, snapshot, verdict
from tests.unit.investigate_fakes import FakeProc

UWSGI = ["/srv/venv/bin/uwsgi"]
UVICORN = ["/srv/venv/bin/python3", "-m", "uvicorn", "myapp.asgi:application"]
GRANIAN = ["/srv/venv/bin/granian", "myapp.wsgi:application"]
INI = """; the app's uwsgi
[uwsgi]
module = myapp.wsgi:application
master = true
processes = $(UWSGI_WORKERS_WANTED)
threads = 8
base = /var/log/app
logto = %(base)/uwsgi.log
http-socket = :8000
env = DB_PASSWORD=s33d-ini-pass

[other]
processes = 99
gevent = 1000
"""
GEVENT_MAPS = "7f00-7f10 r-xp 0 08:01 1 /srv/venv/lib/python3.11/site-packages/gevent/_gevent_cgreenlet.so\n"


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    monkeypatch.setattr(probe.time, "sleep", lambda s: None)
    return FakeProc(tmp_path / "proc")


def _found(fake, argv, environ=None, files=None, maps="", workers=2):
    fake.server(argv, environ, files, maps, workers)
    server = procs.find(str(fake.root))[0]
    procs.decide(server)
    return server


@pytest.mark.parametrize("argv,environ,expected", [
    (["--ini", "/etc/uwsgi/app.ini"], {"UWSGI_WORKERS_WANTED": "4"},
     ("threads", "config /etc/uwsgi/app.ini", 4, 8, None)),
    (["app.ini"], {"UWSGI_WORKERS_WANTED": "4"}, ("threads", "config app.ini", 4, 8, None)),
    (["--ini", "app.ini:other"], {}, ("gevent", "config app.ini", 99, 1, 1000)),
    (["--ini", "app.ini", "--processes", "2", "--threads=1"], {"UWSGI_WORKERS_WANTED": "4"},
     ("sync", "uwsgi's default: processes x 1 thread", 2, 1, None)),
    (["--processes", "2", "--ini", "app.ini"], {"UWSGI_WORKERS_WANTED": "4"},
     ("threads", "config app.ini", 4, 8, None)),
    (["-M", "-p", "3", "--gevent", "100", "--http", ":8000"], {}, ("gevent", "command line", 3, 1, 100)),
    (["--async", "10", "--greenlet"], {}, ("greenlet", "command line", 1, 1, 10)),
    (["--async", "10", "--ugreen"], {}, ("ugreen", "command line", 1, 1, 10)),
    ([], {"UWSGI_PROCESSES": "5", "UWSGI_GEVENT": "50"}, ("gevent", "UWSGI_GEVENT", 5, 1, 50)),
    (["--processes", "6"], {"UWSGI_INI": "/etc/uwsgi/app.ini", "UWSGI_WORKERS_WANTED": "4"},
     ("threads", "config /etc/uwsgi/app.ini", 6, 8, None)),
    ([], {}, ("sync", "uwsgi's default: processes x 1 thread", 1, 1, None)),
], ids=["ini", "bare-ini", "ini-section", "cli-after-ini", "ini-after-cli", "gevent", "greenlet", "ugreen",
        "env", "env-ini", "default"])
def test_uwsgi_reads_env_then_its_command_line_in_order_with_each_ini_where_it_stands(fake, argv, environ, expected):
    files = {"/etc/uwsgi/app.ini": INI, "app.ini": INI}
    server = _found(fake, UWSGI + argv, environ, files)
    assert (server.worker_class, server.worker_class_from, server.configured_workers, server.threads,
            server.cores) == expected


def test_uwsgi_ini_settings_log_bind_and_no_secret(fake):
    server = _found(fake, UWSGI + ["--ini", "/etc/uwsgi/app.ini"], {"UWSGI_WORKERS_WANTED": "4"},
                    {"/etc/uwsgi/app.ini": INI})
    assert server.config_file == "/etc/uwsgi/app.ini" and server.interface == "wsgi"
    assert server.bind == [":8000"] and server.ports == [8000] and server.error_log == "/var/log/app/uwsgi.log"
    assert "s33d-ini-pass" not in json.dumps(server.config) and server.config["processes"] == "4"
    assert worker_class_lines(verdict.settings(snapshot.Snapshot(app_servers=[server])))[0].startswith(
        "worker class threads: holds. A fixed pool of threads, each keeping its own DB connection with "
        "CONN_MAX_AGE > 0: connections bounded by workers x threads (4 x 8 = 32)")


def test_uwsgi_unread_is_said_and_gevent_seen_in_maps_counts(fake):
    unreadable = []
    fake.server(UWSGI + ["--ini", "/etc/missing.ini", "--yaml", "/etc/app.yml"], {})
    server = procs.find(str(fake.root), unreadable)[0]
    procs.decide(server)
    assert unreadable == ["uwsgi config /etc/missing.ini: not read", "uwsgi config /etc/app.yml: a yaml file, "
                          "not read (only .ini is)"]
    blind = procs.AppServer("uwsgi", 100, blind=True)
    procs.decide(blind)
    assert blind.worker_class == "" and blind.worker_class_from.startswith("unknown")
    green = procs.AppServer("uwsgi", 100, blind=True, modules=[GEVENT_MAPS.split()[-1]])
    procs.decide(green)
    assert (green.worker_class, green.worker_class_from) == ("gevent", "maps")


def test_debians_uwsgi_binary_is_uwsgi():
    assert procs.server_of(["/usr/bin/uwsgi_python3", "--ini", "/etc/uwsgi/app.ini"]) == "uwsgi"


@pytest.mark.parametrize("argv,environ,expected", [
    (UVICORN + ["--workers", "4", "--port", "9000"], {}, (4, ["127.0.0.1:9000"])),
    (UVICORN, {"UVICORN_WORKERS": "3", "UVICORN_HOST": "0.0.0.0"}, (3, ["0.0.0.0:8000"])),
    (UVICORN + ["--uds", "/run/app.sock"], {"WEB_CONCURRENCY": "5"}, (5, ["unix:/run/app.sock"])),
    (UVICORN + ["--workers=2"], {"WEB_CONCURRENCY": "5", "UVICORN_WORKERS": "3"}, (2, ["127.0.0.1:8000"])),
], ids=["cli", "env", "web-concurrency", "cli-first"])
def test_uvicorn_is_asgi_with_its_workers_from_the_command_line_then_its_environment(fake, argv, environ,
                                                                                     expected):
    server = _found(fake, argv, environ)
    assert (server.worker_class, server.worker_class_from, server.interface) == \
        ("asgi", "uvicorn serves ASGI only", "asgi")
    assert (server.configured_workers, server.bind) == expected


def test_uvicorns_spawned_workers_count_and_its_resource_tracker_does_not(fake):
    fake.process(100, 1, UVICORN + ["--workers", "2"], {})
    for pid in (101, 102):
        fake.process(pid, 100, ["/srv/venv/bin/python3", "-c", "from multiprocessing.spawn import spawn_main; "
                                "spawn_main(tracker_fd=5, pipe_handle=7)", "--multiprocessing-fork"], {})
    fake.process(103, 100, ["/srv/venv/bin/python3", "-c", "from multiprocessing.resource_tracker import main;"
                            "main(4)"], {})
    found = procs.find(str(fake.root))
    assert [(s.server, s.master, s.workers) for s in found] == [("uvicorn", 100, [101, 102])]


@pytest.mark.parametrize("argv,environ,expected", [
    (["/srv/venv/bin/gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "4", "myapp.asgi"], {},
     ("asgi", "command line", 4, "")),
    (["/srv/venv/bin/gunicorn", "myapp.asgi"], {"GUNICORN_CMD_ARGS": "-k uvicorn_worker.UvicornWorker"},
     ("asgi", "GUNICORN_CMD_ARGS", None, "")),
    (["/srv/venv/bin/daphne", "-b", "0.0.0.0", "-p", "8001", "myapp.asgi:application"], {},
     ("asgi", "daphne serves ASGI only", 1, "asgi")),
    (GRANIAN + ["--interface", "asgi", "--workers", "4"], {}, ("asgi", "command line", 4, "asgi")),
    (GRANIAN + ["--interface", "asginl"], {}, ("asgi", "command line", 1, "asgi")),
    (GRANIAN, {"GRANIAN_INTERFACE": "wsgi", "GRANIAN_WORKERS": "2"}, ("threads", "GRANIAN_INTERFACE", 2, "wsgi")),
    (GRANIAN, {}, ("rsgi", "granian's default interface", 1, "")),
], ids=["gunicorn-uvicorn", "gunicorn-uvicorn-worker-env", "daphne", "granian-asgi", "granian-asginl",
        "granian-wsgi-env", "granian-default"])
def test_asgi_servers_and_granians_interface(fake, argv, environ, expected):
    server = _found(fake, argv, environ)
    assert (server.worker_class, server.worker_class_from, server.configured_workers, server.interface) == expected


def test_granian_wsgi_holds_within_workers_x_blocking_threads(fake):
    server = _found(fake, GRANIAN + ["--interface", "wsgi", "--blocking-threads", "8", "--port", "9000"],
                    {"GRANIAN_WORKERS": "3", "GRANIAN_BLOCKING_THREADS": "2"})
    assert (server.worker_class, server.configured_workers, server.threads, server.bind) == \
        ("threads", 3, 8, ["127.0.0.1:9000"])


def test_uvicorn_under_load_is_port_exhaustion_and_names_asgi_and_its_fix(fake, tmp_path):
    fake.server(UVICORN + ["--workers", "4"], {"CONN_MAX_AGE": "600"}, workers=4)
    fake.sockets([("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "TIME_WAIT") for i in range(990)])
    log = tmp_path / "app.log"
    log.write_text("OperationalError: connection to server at \"db\" (172.18.0.2), port 5432 failed: Cannot "
                   "assign requested address\n" * 5)
    v = verdict.verdict_of(probe.run(args.check(seconds="1", log=str(log)), str(fake.root)))
    assert v.case == diagnosis.PORT_EXHAUSTION_POSTGRES
    assert "under ASGI" in v.headline and "CONN_MAX_AGE=600" in v.headline and "#33497" in v.headline
    line = next(e for e in v.evidence if e.startswith("worker class asgi: churns"))
    assert "(4 workers)" in line and "Django 5.1+'s native pool" in line and "PgBouncer" in line


def test_uwsgi_threads_without_errors_is_healthy_and_bounded(fake, tmp_path):
    fake.server(UWSGI + ["--master", "--processes", "20", "--threads", "40"], workers=20)
    fake.sockets([("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "ESTABLISHED") for i in range(800)])
    (tmp_path / "app.log").write_text("")
    snap = probe.run(args.check(seconds="1", log=str(tmp_path / "app.log")), str(fake.root))
    v = verdict.verdict_of(snap)
    assert v.case == diagnosis.HEALTHY and "within workers x threads = 800" in v.headline
    assert any(line.startswith("worker class threads: holds") for line in v.evidence)
    assert "app server: uwsgi master 100, 20 worker processes, worker class threads (from command line), " \
           "threads 40, interface wsgi" in verdict.report(snap)
