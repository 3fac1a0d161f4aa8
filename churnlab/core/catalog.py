"""The lab's variants, kernel profiles and knobs, read from config/presets.yml.

That file is the one place a variant's numbers and a profile's sysctls are
written; the compose lab, Ansible, `make help` and the tests read it. A bad
name gets the same message everywhere: unknown variant 'x'; valid variants: ...
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import yaml

from churnlab.core import bounds, files, run_record
from churnlab.core.errors import LabError
from churnlab.core.paths import COMPOSE_DIR, PRESETS_FILE, STATE_DIR

# Knobs that override a variant's preset (make variables of the same name).
# WORKER_CONNECTIONS and GUNICORN_BACKLOG size gunicorn for a concurrency (the
# variant keeps gunicorn's defaults, 1,000 and 2,048, unless they are given).
# CONN_HEALTH_CHECKS (0/1): Django checks a persistent connection before reusing it (faults: db-restart).
KNOBS = ("WORKER_CLASS", "WORKERS", "THREADS", "CONN_MAX_AGE", "WORKER_CONNECTIONS", "GUNICORN_BACKLOG",
         "CONN_HEALTH_CHECKS")
WORKER_CLASSES = ("eventlet", "gthread", "sync", "gevent", "uvicorn")
# How the compose lab's app reaches Postgres for each db_path (the service
# layout itself lives in the variant's compose_overlay).
DB_PATHS = {
    "direct": {"DB_HOST": "db", "DB_PORT": "5432"},
    "pgbouncer": {"DB_HOST": "pgbouncer", "DB_PORT": "6432", "DISABLE_SERVER_SIDE_CURSORS": "true"},
    "pgbouncer-local": {"DB_HOST": "/run/pgbouncer", "DB_PORT": "6432", "DISABLE_SERVER_SIDE_CURSORS": "true"},
}
PRESET_KEYS = {"about", "worker_class", "workers", "threads", "conn_max_age", "db_path", "app_image"}

# -- today's stack (psycopg 3): which lock, which pool -----------------------
# The app's lock files (app/<lock>): the incident's stack and today's. A
# variant names its lock (app_lock, default the incident's); the image and the
# hosts' virtualenv install that lock. gunicorn 27 has no eventlet worker, the
# incident's lock no gevent and no uvicorn (uvicorn: gunicorn with uvicorn's
# worker, uvicorn_worker.UvicornWorker, serving labapp.asgi: the ASGI variants).
INCIDENT_LOCK = "requirements.txt"
TODAY_LOCK = "requirements-today.txt"
LOCK_WORKER_CLASSES = {INCIDENT_LOCK: ("eventlet", "gthread", "sync"),
                       TODAY_LOCK: ("gevent", "gthread", "sync", "uvicorn")}
# Django's ENGINE for psycopg 3 (Django >= 4.2), and with django-db-geventpool.
DB_ENGINES = {"": "django.db.backends.postgresql",
              "geventpool": "django_db_geventpool.backends.postgresql_psycopg3",
              "native": "django.db.backends.postgresql"}
POOL_KEYS = ("pool_min_size", "pool_max_size", "pool_timeout")
# Postgres' max_connections in config/postgresql/postgresql.conf (the incident's): a pooled
# variant's bound, workers x pool_max_size, must stay below it.
DB_MAX_CONNECTIONS = 4096
OPTIONAL_KEYS = {"compose_overlay", "incident", "app_lock", "db_pool", *POOL_KEYS,
                 "prepare_threshold", "server_side_binding", "conn_health_checks"}


def _check_today(path: Path, name: str, preset: dict) -> None:
    """The optional fields of today's stack: one clear line for each misuse."""
    def bad(why: str) -> LabError:
        return LabError(f"{path}: variant {name!r}: {why}")

    unknown = set(preset) - PRESET_KEYS - OPTIONAL_KEYS
    if unknown:
        raise bad(f"unknown field(s) {', '.join(sorted(unknown))}")
    lock = preset.get("app_lock", INCIDENT_LOCK)
    if lock not in LOCK_WORKER_CLASSES:
        raise bad(f"app_lock {lock!r}; valid: {', '.join(LOCK_WORKER_CLASSES)}")
    why = _image_misfit(preset, preset["worker_class"], preset["conn_max_age"])
    if why == "worker_class":
        raise bad(f"worker_class {preset['worker_class']!r} is not installed by {lock} "
                  f"(valid: {', '.join(LOCK_WORKER_CLASSES[lock])})")
    psycopg3 = {"db_pool", *POOL_KEYS, "prepare_threshold", "server_side_binding"} & set(preset)
    if psycopg3 and lock != TODAY_LOCK:
        raise bad(f"{', '.join(sorted(psycopg3))} need(s) psycopg 3: app_lock {TODAY_LOCK}")
    pool = preset.get("db_pool")
    if pool is not None:
        if pool not in ("native", "geventpool"):
            raise bad(f"db_pool {pool!r}; valid: native, geventpool")
        if pool == "geventpool" and preset["worker_class"] != "gevent":
            raise bad("db_pool geventpool needs worker_class gevent")
        if why == "conn_max_age":
            raise bad(f"db_pool {pool} needs conn_max_age 0 (the pool keeps the connections)")
        if "pool_max_size" not in preset:
            raise bad(f"db_pool {pool} needs pool_max_size")
    elif set(POOL_KEYS) & set(preset):
        raise bad("pool_min_size, pool_max_size and pool_timeout need db_pool")
    for key in POOL_KEYS:
        if key in preset:
            try:
                bounds.number(key.upper(), preset[key])
            except LabError as exc:
                raise bad(str(exc)) from None
    if preset.get("pool_min_size", 0) > preset.get("pool_max_size", 1000):
        raise bad("pool_min_size is above pool_max_size")
    bound = db_bound(preset)
    if bound is not None and bound[0] >= DB_MAX_CONNECTIONS:
        raise bad(f"its DB bound, {bound[1]} = {bound[0]:,}, is not below Postgres' max_connections "
                  f"{DB_MAX_CONNECTIONS:,}")
    if "prepare_threshold" in preset and preset["prepare_threshold"] != "none":
        try:
            bounds.whole("PREPARE_THRESHOLD", preset["prepare_threshold"])
        except LabError as exc:
            raise bad(f"{exc} (or \"none\")") from None
    if "server_side_binding" in preset and not isinstance(preset["server_side_binding"], bool):
        raise bad("server_side_binding is true or false")
    if "conn_health_checks" in preset and not isinstance(preset["conn_health_checks"], bool):
        raise bad("conn_health_checks is true or false")


def db_bound(preset: dict) -> tuple[int, str] | None:
    """The most DB connections a pooled variant opens, and how: (workers x pool_max_size, the
    product in words); None without a pool (threads or per-request connections bound it)."""
    if not preset.get("db_pool") or "pool_max_size" not in preset:
        return None
    workers, size = int(preset["workers"]), int(preset["pool_max_size"])
    return workers * size, f"workers x pool_max_size = {workers} x {size}"


def _image_misfit(preset: dict, worker_class: object, conn_max_age: object) -> str | None:
    """What the variant's image cannot run with these effective values (the
    preset's own, or with the knobs given): "worker_class" when its lock does
    not install that worker, "conn_max_age" when a pool is asked to share
    persistent connections; None when they fit."""
    if str(worker_class) not in LOCK_WORKER_CLASSES[preset.get("app_lock", INCIDENT_LOCK)]:
        return "worker_class"
    if preset.get("db_pool") and str(conn_max_age) != "0":
        return "conn_max_age"
    return None


def today_environment(preset: dict) -> dict[str, str]:
    """The app's settings for psycopg 3 (labapp/settings.py reads them); none for the incident's lock."""
    if preset.get("app_lock", INCIDENT_LOCK) != TODAY_LOCK:
        return {}
    pool = preset.get("db_pool", "")
    env = {"DB_ENGINE": DB_ENGINES[pool]}
    if pool:
        env.update({"DB_POOL": pool, "DB_POOL_MIN": str(preset.get("pool_min_size", 1)),
                    "DB_POOL_MAX": str(preset["pool_max_size"]),
                    "DB_POOL_TIMEOUT": str(preset.get("pool_timeout", 30))})
    if "prepare_threshold" in preset:
        env["DB_PREPARE_THRESHOLD"] = str(preset["prepare_threshold"])
    if "server_side_binding" in preset:
        env["DB_SERVER_SIDE_BINDING"] = str(preset["server_side_binding"]).lower()
    return env


_chosen: Path | None = None  # use_presets(): this process's own presets file


def use_presets(path: Path | None) -> None:
    """Read the variants and profiles from `path` from now on in this process (None: the default again)."""
    global _chosen
    _chosen = path
    _load.cache_clear()


def presets_file() -> Path:
    """The file use_presets chose, else the copy named by CHURNLAB_PRESETS (Ansible reads the same
    variable), else config/presets.yml."""
    if _chosen is not None:
        return _chosen
    chosen = os.environ.get("CHURNLAB_PRESETS")
    return Path(chosen) if chosen else PRESETS_FILE


@lru_cache(maxsize=8)
def _load(path: Path, stamp: tuple[int, int]) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read the presets file {path}: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict) \
            or not isinstance(data.get("profiles"), dict):
        raise LabError(f"{path}: expected a mapping with 'variants' and 'profiles'")
    for name, preset in data["variants"].items():
        missing = PRESET_KEYS - set(preset or {})
        if missing:
            raise LabError(f"{path}: variant {name!r} lacks {', '.join(sorted(missing))}")
        if preset["db_path"] not in DB_PATHS:
            raise LabError(f"{path}: variant {name!r} has db_path {preset['db_path']!r}; "
                           f"valid: {', '.join(DB_PATHS)}")
        _check_today(path, name, preset)
    return data


def presets() -> dict:
    path = presets_file()
    try:
        stat = path.stat()
    except OSError as exc:
        raise LabError(f"the presets file {path} is missing") from exc
    return _load(path, (stat.st_mtime_ns, stat.st_size))  # read again whenever the file changes


def variants() -> list[str]:
    return list(presets()["variants"])


def profiles() -> list[str]:
    return list(presets()["profiles"])


def variant(name: str) -> dict:
    check("variant", name)
    return presets()["variants"][name]


def profile_sysctls(name: str) -> dict[str, str]:
    check("profile", name)
    return {k: str(v) for k, v in (presets()["profiles"][name].get("sysctls") or {}).items()}


def about(kind: str, name: str) -> str:
    return str(presets()[f"{kind}s"][name].get("about", ""))


def incident(kind: str) -> set[str]:
    """The variants (or profiles) marked `incident: true`: they reproduce the incident on purpose."""
    return {name for name, entry in presets()[f"{kind}s"].items() if (entry or {}).get("incident") is True}


def check(kind: str, name: str) -> None:
    valid = variants() if kind == "variant" else profiles()
    if name not in valid:
        raise LabError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def _check_knobs(knobs: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in knobs.items():
        if value is None or str(value).strip() == "":
            continue
        if key not in KNOBS:
            raise LabError(f"unknown knob {key!r}; valid knobs: {', '.join(KNOBS)}")
        text = str(value).strip()
        if key == "WORKER_CLASS":
            if text not in WORKER_CLASSES:
                raise LabError(f"WORKER_CLASS={text!r} is not one of: {', '.join(WORKER_CLASSES)}")
            clean[key] = text
        else:
            clean[key] = str(bounds.whole(key, text))
    return clean


class Selection(run_record.Selection):
    """run.json's Selection as it is chosen: a variant, a profile and knob overrides checked
    against config/presets.yml (Selection.of), and what the compose lab makes of them."""

    @classmethod
    def of(cls, variant: str, profile: str, knobs: dict[str, str] | None = None,
           observe: bool = False) -> Selection:
        check("variant", variant)
        check("profile", profile)
        clean = _check_knobs(knobs or {})
        preset = presets()["variants"][variant]
        lock = preset.get("app_lock", INCIDENT_LOCK)
        why = _image_misfit(preset, clean.get("WORKER_CLASS", preset["worker_class"]),
                            clean.get("CONN_MAX_AGE", preset["conn_max_age"]))
        if why == "worker_class":
            raise LabError(f"WORKER_CLASS={clean['WORKER_CLASS']!r} is not installed in variant {variant!r}'s "
                           f"image ({lock}); valid: {', '.join(LOCK_WORKER_CLASSES[lock])}")
        if why == "conn_max_age":
            raise LabError(f"CONN_MAX_AGE={clean['CONN_MAX_AGE']} with variant {variant!r}: "
                           "its pool keeps the connections, CONN_MAX_AGE must stay 0")
        return cls(variant=variant, profile=profile, knobs=clean, observe=bool(observe))

    def app_environment(self) -> dict[str, str]:
        """The app's settings: the variant's preset, then the knobs given."""
        preset = variant(self.variant)
        env = {"WORKER_CLASS": str(preset["worker_class"]), "WORKERS": str(preset["workers"]),
               "THREADS": str(preset["threads"]), "CONN_MAX_AGE": str(preset["conn_max_age"]),
               "CONN_HEALTH_CHECKS": "1" if preset.get("conn_health_checks") else "0",
               **DB_PATHS[preset["db_path"]], **today_environment(preset)}
        env.update(self.knobs)
        return env

    def overlay(self) -> dict:
        """The compose overlay carrying this selection's presets (no structure)."""
        preset = variant(self.variant)
        image = str(preset["app_image"])
        app: dict = {"image": image, "environment": self.app_environment()}
        if "app_lock" in preset:  # the image is built from that lock
            app["build"] = {"args": {"REQUIREMENTS": str(preset["app_lock"])}}
        sysctls = profile_sysctls(self.profile)
        if sysctls:
            app["sysctls"] = sysctls
        return {"services": {"app": app, "migrate": {"image": image}}}

    def overlay_file(self) -> Path:
        """Write the presets overlay under .lab/ (named by its content) and return it."""
        text = "# Generated from config/presets.yml by churnlab; do not edit.\n" + \
            json.dumps(self.overlay(), indent=2, sort_keys=True) + "\n"
        path = STATE_DIR / "compose" / f"presets-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yml"
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            files.write_atomic(path, text)
        return path

    def files(self) -> list[Path]:
        """base.yml, the variant's structural overlay if it has one, then its presets."""
        files = [COMPOSE_DIR / "base.yml"]
        overlay = variant(self.variant).get("compose_overlay")
        if overlay:
            files.append(COMPOSE_DIR / overlay)
        if self.observe:
            files.append(COMPOSE_DIR / "observe.yml")
            # The variant's own exporters (PgBouncer's), by how the app reaches Postgres.
            exporters = COMPOSE_DIR / f"observe-{variant(self.variant)['db_path']}.yml"
            if exporters.is_file():
                files.append(exporters)
        files.append(self.overlay_file())
        return files

    def as_dict(self) -> dict:
        """What was chosen (the record's other fields say where and how it ran)."""
        return {"variant": self.variant, "profile": self.profile, "knobs": dict(self.knobs),
                "observe": self.observe}


# -- rank candidates (churnlab rank) -------------------------------------------
RANK_KEYS = {"variant", "profile", "knobs"}


def rank_candidates() -> list[Selection]:
    """The fixes `churnlab rank` measures: presets.yml's `rank:` list, each checked."""
    entries = presets().get("rank") or []
    if not isinstance(entries, list):
        raise LabError(f"{presets_file()}: 'rank' must be a list of {{variant, profile}}")
    found: list[Selection] = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"variant", "profile"} <= set(entry) or set(entry) - RANK_KEYS:
            raise LabError(f"{presets_file()}: rank entry {entry!r} needs variant and profile (and optional knobs)")
        found.append(Selection.of(str(entry["variant"]), str(entry["profile"]),
                                  {k: str(v) for k, v in (entry.get("knobs") or {}).items()}))
    return found


def check_variant(name: str) -> str:
    check("variant", name)
    return name


def check_profile(name: str) -> str:
    check("profile", name)
    return name
