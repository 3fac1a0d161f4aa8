"""Settings for the incident's service. Everything comes from the environment.

DB_HOST may be a hostname or, for PgBouncer beside the app, a Unix socket
directory (libpq treats a value starting with "/" as a socket directory).
"""
import os
from pathlib import Path


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _read_secret(name: str, default: str = "") -> str:
    """Return $NAME, or the contents of the file named by $NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = _read_secret("DJANGO_SECRET_KEY") or "insecure-only-for-manage-check"
DEBUG = _env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "roles",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "labapp.urls"
WSGI_APPLICATION = "labapp.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Same shape as the incident's DATABASES, with every value from the environment.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql_psycopg2",
        "NAME": os.environ.get("DB_NAME", "lab"),
        "USER": os.environ.get("DB_USER", "lab"),
        "PASSWORD": _read_secret("DB_PASSWORD"),
        "HOST": os.environ.get("DB_HOST", "db"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "0")),
        # Required behind PgBouncer transaction pooling.
        "DISABLE_SERVER_SIDE_CURSORS": _env_bool("DISABLE_SERVER_SIDE_CURSORS"),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# One line per caught DB failure goes to stderr (the container log); the lab
# counts them by kind. No per-request access logging.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"roles": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
