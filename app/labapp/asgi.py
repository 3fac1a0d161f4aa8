"""The same Django app under ASGI (gunicorn's uvicorn worker: WORKER_CLASS=uvicorn).

The views stay sync DRF views: Django runs each request's sync code through
asgiref's sync_to_async (thread_sensitive), which is why CONN_MAX_AGE cannot
keep a connection across requests there (Django ticket #33497).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labapp.settings")
application = get_asgi_application()
