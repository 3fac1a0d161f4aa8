"""Why a worker class churns DB connections or holds them: the lab's lesson in
one place, for a verdict that found the class on a host (churnlab.investigate)."""
from __future__ import annotations

__all__ = ["ASGI_CLASSES", "GREEN_CLASSES", "THREAD_CLASSES", "worker_class_lines"]

GREEN_CLASSES = ("eventlet", "gevent", "greenlet")  # greenlet: eventlet or gevent, seen by the module loaded
# a fixed pool of OS threads per process: gunicorn gthread; uwsgi processes x threads, granian wsgi ("threads")
THREAD_CLASSES = ("gthread", "threads")
# uvicorn, daphne, granian --interface asgi, gunicorn -k uvicorn.workers.UvicornWorker ("asgi", as the
# probe names it); "uvicorn": the lab's own worker_class (gunicorn with uvicorn_worker.UvicornWorker)
ASGI_CLASSES = ("asgi", "uvicorn")


def worker_class_lines(settings: dict) -> list[str]:
    """What the worker class found means for the DB connections: churns, holds, or unknown."""
    cls = settings.get("WORKER_CLASS") or ""
    workers, threads = settings.get("WORKERS") or "?", settings.get("THREADS")
    if cls in GREEN_CLASSES:
        return [f"worker class {cls}: churns. Each request runs in a new greenlet, and Django keeps its DB "
                "connection per thread, which under eventlet/gevent is per greenlet: CONN_MAX_AGE cannot "
                "reuse it, the greenlet ends and its connection is closed, so without HTTP keep-alive it is "
                "a new TCP connection (and a port in TIME_WAIT for 60 s) per request"]
    if cls in ASGI_CLASSES:
        return [f"worker class {cls}: churns. An asyncio event loop per worker ({workers} workers), and under ASGI "
                "Django's persistent connections do not work (Django ticket #33497): each request's sync code "
                "runs in a fresh thread-sensitive context, so CONN_MAX_AGE opens a connection per request that is "
                "never reused, churning it (a port in TIME_WAIT for 60 s each) or leaking it until the server "
                "closes it. The fix is a pool: Django 5.1+'s native pool (DATABASES OPTIONS {'pool': ...}, "
                "psycopg 3) or PgBouncer beside the app; CONN_MAX_AGE does not help"]
    if cls in (*THREAD_CLASSES, "sync"):
        bound = threads if cls in THREAD_CLASSES else "1"
        total = (f" = {int(workers) * int(bound):,}" if str(workers).isdigit() and str(bound).isdigit() else "")
        return [f"worker class {cls}: holds. A fixed pool of threads, each keeping its own DB connection "
                f"with CONN_MAX_AGE > 0: connections bounded by workers x threads ({workers} x {bound or '?'}"
                f"{total}) and reused, so no churn; with CONN_MAX_AGE=0 each request still opens one"]
    if cls:
        return [f"worker class {cls}: not one the lab measured; check whether each request opens its own "
                "DB connection (new connections per second toward the database, above)"]
    return ["worker class: not found (no app server seen, or its settings could not be read)"]
