"""Print the versions of the app's Python packages as one line of JSON.

Standalone (standard library only): versions.py runs it in the app container
with `python3 -c`, playbooks/load.yml runs the same text with the app venv's
python on the app host. A package that is not installed reads null."""
import importlib
import json

PACKAGES = ("django", "rest_framework", "psycopg2", "gunicorn", "eventlet",
            "psycopg", "psycopg_pool", "gevent", "django_db_geventpool", "uvicorn")


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
            # django_db_geventpool names it `version` ('v4.0.8')
            text = getattr(module, "__version__", None) or getattr(module, "version", "")
            out[name] = str(text).split()[0].lstrip("v") or None
        except ImportError:
            out[name] = None
    return out


if __name__ == "__main__":
    print(json.dumps(versions()))
