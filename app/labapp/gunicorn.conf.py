"""gunicorn settings shaped like the incident's myapp/settings/gunicorn.conf.py.

Incident: bind = f'0.0.0.0:{GUNICORN_PORT}', worker_class = 'eventlet', workers = 6.
Here every knob comes from the environment so each lab variant is one preset.
"""
import os

GUNICORN_PORT = os.environ.get("GUNICORN_PORT", "8000")
# GUNICORN_BIND: one or more host:port, comma-separated (hosts bind loopback
# and their own address; the container binds every address).
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", f"0.0.0.0:{GUNICORN_PORT}").split(",") if b.strip()]
worker_class = os.environ.get("WORKER_CLASS", "eventlet")
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
