"""The gunicorn config is read with ast, never run: literals, names, f-strings and
os.environ / os.getenv resolved against the server process's own environment."""
from churnlab.investigate import pyconfig

INCIDENT = """
import os
GUNICORN_PORT = os.environ.get("GUNICORN_PORT", "8000")
bind = f'0.0.0.0:{GUNICORN_PORT}'
worker_class = 'eventlet'
workers = 6
"""


def test_the_incidents_config_reads_as_written():
    config = pyconfig.read(INCIDENT, {"GUNICORN_PORT": "9001"})
    assert config.settings == {"GUNICORN_PORT": "9001", "bind": "0.0.0.0:9001", "worker_class": "eventlet",
                               "workers": 6}
    assert config.unresolved == {}


def test_environment_lookups_resolve_against_the_process_environment():
    source = """
import os
from os import environ, getenv
worker_class = os.environ.get("WORKER_CLASS", "eventlet")
workers = int(os.environ.get("WORKERS", "6"))
threads = int(getenv("THREADS", 1)) * 2
timeout: int = int(environ["TIMEOUT"])
keepalive = os.getenv("KEEPALIVE")
raw_env = ["A=1", f"B={os.environ['B']}"]
"""
    env = {"WORKER_CLASS": "gthread", "WORKERS": "20", "THREADS": "20", "TIMEOUT": "30", "B": "x"}
    settings = pyconfig.read(source, env).settings
    assert settings == {"worker_class": "gthread", "workers": 20, "threads": 40, "timeout": 30, "keepalive": None,
                        "raw_env": ["A=1", "B=x"]}
    defaults = pyconfig.read(source, {})  # an environment without them: the defaults, and what has none
    assert defaults.settings["worker_class"] == "eventlet" and defaults.settings["workers"] == 6
    assert set(defaults.unresolved) == {"timeout", "raw_env"}


def test_the_labs_own_config_reads_its_worker_class_through_a_dict_lookup():
    """app/labapp/gunicorn.conf.py maps WORKER_CLASS through a dict (uvicorn: its gunicorn worker)."""
    from churnlab.core.paths import ROOT

    source = (ROOT / "app" / "labapp" / "gunicorn.conf.py").read_text()
    for kind, expected in (("eventlet", "eventlet"), ("gthread", "gthread"),
                           ("uvicorn", "uvicorn_worker.UvicornWorker")):
        config = pyconfig.read(source, {"WORKER_CLASS": kind, "WORKERS": "6"})
        assert config.settings["worker_class"] == expected and config.settings["workers"] == 6, config
    assert pyconfig.read("M = {}\nk = M.get([1], 2)\n", {}).unresolved == {"k": "M.get([1], 2)"}  # unhashable
    assert "w" in pyconfig.read("w = unknown.get('a')\n", {}).unresolved


def test_an_unreadable_environment_leaves_lookups_unresolved_and_says_so():
    config = pyconfig.read("import os\nworker_class = os.environ.get('WORKER_CLASS', 'eventlet')\nworkers = 4\n",
                           None)
    assert config.settings == {"workers": 4}
    assert config.unresolved == {"worker_class": "os.environ.get('WORKER_CLASS', 'eventlet')"}


def test_the_config_is_never_executed(tmp_path):
    marker = tmp_path / "x"
    source = f"""
import os, multiprocessing
open({str(marker)!r}, 'w').write('ran')
handle = open({str(marker)!r}, 'w')
os.system('touch {marker}')
workers = multiprocessing.cpu_count() * 2 + 1
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",")]
if True:
    worker_class = 'gevent'
def post_fork(server, worker):
    open({str(marker)!r}, 'w')
worker_class = 'sync'
"""
    config = pyconfig.read(source, dict(__import__("os").environ))
    assert not marker.exists()
    assert config.settings == {"worker_class": "sync"}  # what is inside if/def is not followed
    assert set(config.unresolved) == {"handle", "workers", "bind"}


def test_a_file_that_is_not_python_is_an_error_not_a_crash():
    assert pyconfig.read("worker_class = 'eventlet\n", {}).error.startswith("not parsed: SyntaxError")
