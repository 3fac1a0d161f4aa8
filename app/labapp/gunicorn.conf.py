"""gunicorn settings shaped like the incident's myapp/settings/gunicorn.conf.py.

Incident: bind = f'0.0.0.0:{GUNICORN_PORT}', worker_class = 'eventlet', workers = 6.
Here every knob comes from the environment so each lab variant is one preset.
"""
import os

GUNICORN_PORT = os.environ.get("GUNICORN_PORT", "8000")
# GUNICORN_BIND: one or more host:port, comma-separated (hosts bind loopback
# and their own address; the container binds every address).
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", f"0.0.0.0:{GUNICORN_PORT}").split(",") if b.strip()]
# WORKER_CLASS "uvicorn" (today's lock only) is the ASGI server: uvicorn's gunicorn
# worker, serving labapp.asgi instead of the WSGI module on the command line (see
# on_starting below), with the same bind, workers, backlog, timeout and log.
WORKER_CLASS = os.environ.get("WORKER_CLASS", "eventlet")
ASGI_WORKERS = {"uvicorn": "uvicorn_worker.UvicornWorker"}
worker_class = ASGI_WORKERS.get(WORKER_CLASS, WORKER_CLASS)
workers = int(os.environ.get("WORKERS", "6"))
threads = int(os.environ.get("THREADS", "1"))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# ab and the lab's default k6 scenario send no keep-alive; keep gunicorn's default.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "2"))
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")


def on_starting(server):
    """Under an ASGI worker, load the ASGI application: the command line (the
    container's CMD, the hosts' systemd unit) names the WSGI one, as the
    incident's did, and stays the same for every variant."""
    if WORKER_CLASS in ASGI_WORKERS:
        server.app.app_uri = "labapp.asgi:application"
