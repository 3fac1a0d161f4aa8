"""Settings for the incident's service. Everything comes from the environment.

DB_HOST may be a hostname or, for PgBouncer beside the app, a Unix socket
directory (libpq treats a value starting with "/" as a socket directory).

The same file serves both images: the incident's (Django 4.1.3, psycopg2) with
none of the DB_POOL/DB_ENGINE variables set, and today's (Django 5.2, psycopg 3)
where config/presets.yml names them:
  DB_ENGINE            Django's ENGINE (default: the incident's postgresql_psycopg2)
  DB_POOL              "" (Django's own connections), "native" (Django >= 5.1's
                       psycopg pool) or "geventpool" (django-db-geventpool)
  DB_POOL_MIN/MAX      the pool's min_size/max_size per worker process
                       (geventpool: MAX_CONNS = DB_POOL_MAX)
  DB_POOL_TIMEOUT      seconds a request waits for a pooled connection (native)
  DB_PREPARE_THRESHOLD psycopg 3's prepare_threshold; "none" disables prepared
                       statements (needed behind PgBouncer transaction pooling)
  DB_SERVER_SIDE_BINDING  psycopg 3 server-side parameter binding (Django's
                       default is client-side binding, which never prepares)
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
        "ENGINE": os.environ.get("DB_ENGINE", "django.db.backends.postgresql_psycopg2"),
        "NAME": os.environ.get("DB_NAME", "lab"),
        "USER": os.environ.get("DB_USER", "lab"),
        "PASSWORD": _read_secret("DB_PASSWORD"),
        "HOST": os.environ.get("DB_HOST", "db"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "0")),
        # Django >= 4.1: check a persistent connection before reusing it (a DB restart
        # breaks every one); off by default, as in Django.
        "CONN_HEALTH_CHECKS": _env_bool("CONN_HEALTH_CHECKS"),
        # Required behind PgBouncer transaction pooling.
        "DISABLE_SERVER_SIDE_CURSORS": _env_bool("DISABLE_SERVER_SIDE_CURSORS"),
    }
}


# -- today's stack (psycopg 3): pools and prepared statements ---------------
# None of this applies unless the variant sets it, so the incident's image
# (psycopg2) gets exactly the DATABASES above.
def _db_options() -> dict:
    options: dict = {}
    pool = os.environ.get("DB_POOL", "").strip()
    pool_min = int(os.environ.get("DB_POOL_MIN", "1"))
    pool_max = int(os.environ.get("DB_POOL_MAX", "4"))
    if pool == "native":
        options["pool"] = {"min_size": pool_min, "max_size": pool_max,
                           "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "30"))}
    elif pool == "geventpool":
        # django-db-geventpool: at most MAX_CONNS per worker, all of them reused;
        # Django >= 5.1's own pool stays off.
        options.update({"MAX_CONNS": pool_max, "REUSE_CONNS": pool_max, "pool": False})
    threshold = os.environ.get("DB_PREPARE_THRESHOLD", "").strip().lower()
    if threshold:
        options["prepare_threshold"] = None if threshold == "none" else int(threshold)
    if os.environ.get("DB_SERVER_SIDE_BINDING"):
        options["server_side_binding"] = _env_bool("DB_SERVER_SIDE_BINDING")
    return options


_OPTIONS = _db_options()
if _OPTIONS:
    DATABASES["default"]["OPTIONS"] = _OPTIONS

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
