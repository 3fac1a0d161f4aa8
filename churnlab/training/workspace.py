"""The trainee's fix: one file, training/workspace/fix.yml (git-ignored).

It holds what an ops engineer would change on the app host: gunicorn's worker
class, workers and threads, Django's CONN_MAX_AGE and pool options, whether the
app goes through PgBouncer and where, and the host's sysctls; and, apart, the
load generator that runs the check (how many generators, their own port
range), which is the answer when the generator is what fails. `make exercise-start`
writes it with the running settings; `make exercise-check` reads it, checks
every value (one line naming the field, exit code 2) and maps it onto the
lab's own presets: a variant and a profile named `exercise` and
`exercise-host` in a copy of config/presets.yml (churnlab.training.labport).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import yaml

from churnlab.core import bounds, catalog
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT

WORKSPACE_DIR = ROOT / "training" / "workspace"
FIX_FILE = WORKSPACE_DIR / "fix.yml"
# pgbouncer: in fix.yml -> the variant's db_path in config/presets.yml.
PGBOUNCER = {"none": "direct", "remote": "pgbouncer", "local": "pgbouncer-local"}
# The variant each db_path takes its compose layout from (its compose_overlay).
LAYOUT_VARIANT = {"direct": "direct", "pgbouncer": "pgbouncer", "pgbouncer-local": "pgbouncer-local"}
SECTIONS = {"gunicorn": {"worker_class", "workers", "threads"}, "django": {"conn_max_age", "pool"},
            "pgbouncer": None, "sysctls": None, "loadgen": {"generators", "port_range"}}
# django.pool: none, or Django's psycopg pool (OPTIONS "pool", Django >= 5.1, today's stack only)
POOL_FIELDS = {"min_size": ("POOL_MIN_SIZE", "pool_min_size"), "max_size": ("POOL_MAX_SIZE", "pool_max_size"),
               "timeout": ("POOL_TIMEOUT", "pool_timeout")}
WHOLE = "(whole)"  # in changes' sysctls: the mapping replaces the start's
# The generator's defaults: one k6, the lab's own wide range (compose/base.yml)
LOADGEN_DEFAULT = {"generators": 1, "port_range": "1024 65535"}
PORT_RANGE = "net.ipv4.ip_local_port_range"
TW_REUSE = "net.ipv4.tcp_tw_reuse"
SYSCTL_NUMBER = re.compile(r"[0-9]{1,7}")


def sysctl_keys() -> set[str]:
    """The sysctls a fix may set: those the lab's profiles set (config/presets.yml)."""
    return {key for name in catalog.profiles() for key in catalog.profile_sysctls(name)}


@dataclass(frozen=True)
class FixSettings:
    """The settings fix.yml holds: what the trainee's fix runs (the diagnosis's Fix is a recommendation)."""

    worker_class: str
    workers: int
    threads: int
    conn_max_age: int
    pgbouncer: str                       # none | remote | local
    sysctls: dict[str, str] = field(default_factory=dict)
    pool: dict | None = None             # {min_size, max_size, timeout}: Django's psycopg pool; None: none
    loadgens: int = 1                    # the check's k6 generators (segments of the same load)
    loadgen_port_range: str = LOADGEN_DEFAULT["port_range"]  # their own ip_local_port_range

    @classmethod
    def of_selection(cls, selection: catalog.Selection, loadgen: dict | None = None) -> FixSettings:
        """The settings a selection runs (the variant's preset, its knobs, its profile's sysctls),
        and the load generator's (loadgen: {generators, port_range}; the lab's defaults if None)."""
        env = selection.app_environment()
        db_path = catalog.variant(selection.variant)["db_path"]
        if env.get("DB_POOL") not in (None, "native"):
            raise LabError(f"db_pool {env['DB_POOL']} cannot be written in {shown()} (only Django's own pool)")
        pool = None
        if env.get("DB_POOL") == "native":
            pool = {"min_size": int(env["DB_POOL_MIN"]), "max_size": int(env["DB_POOL_MAX"]),
                    "timeout": _number(env["DB_POOL_TIMEOUT"])}
        gen = {**LOADGEN_DEFAULT, **(loadgen or {})}
        return parse({"gunicorn": {"worker_class": env["WORKER_CLASS"], "workers": env["WORKERS"],
                                   "threads": env["THREADS"]},
                      "django": {"conn_max_age": env["CONN_MAX_AGE"], "pool": pool or "none"},
                      "pgbouncer": next(k for k, v in PGBOUNCER.items() if v == db_path),
                      "sysctls": catalog.profile_sysctls(selection.profile), "loadgen": gen})

    def sections(self) -> dict:
        return {"gunicorn": {"worker_class": self.worker_class, "workers": self.workers, "threads": self.threads},
                "django": {"conn_max_age": self.conn_max_age, "pool": dict(self.pool) if self.pool else "none"},
                "pgbouncer": self.pgbouncer, "sysctls": dict(self.sysctls),
                "loadgen": {"generators": self.loadgens, "port_range": self.loadgen_port_range}}

    def with_changes(self, changes: dict) -> FixSettings:
        """This fix with some sections changed (the reference solutions name only what they
        change: a section's keys merge, sysctls and a pool's values are given whole or merged)."""
        merged = self.sections()
        for section, value in changes.items():
            if section not in SECTIONS:
                raise LabError(f"unknown section {section!r}; valid: {', '.join(SECTIONS)}")
            if section == "sysctls" and isinstance(value, dict) and value.get(WHOLE):
                merged[section] = {k: v for k, v in value.items() if k != WHOLE}
                continue
            if section == "django" and isinstance(value, dict) and isinstance(value.get("pool"), dict) \
                    and isinstance(merged["django"].get("pool"), dict):  # a pool's fields merge too
                value = {**value, "pool": {**merged["django"]["pool"], **value["pool"]}}
            if isinstance(merged[section], dict) and isinstance(value, dict):
                merged[section] = {**merged[section], **value}
            else:
                merged[section] = value
        return parse(merged)

    def preset(self, base: dict) -> dict:
        """This fix as a variant of config/presets.yml: the base preset's image and lock, our numbers."""
        db_path = PGBOUNCER[self.pgbouncer]
        layout = catalog.variant(LAYOUT_VARIANT[db_path])
        dropped = ("incident", "about", "compose_overlay", "db_pool", *catalog.POOL_KEYS)
        entry = {k: v for k, v in base.items() if k not in dropped}
        entry.update(about="the running exercise", worker_class=self.worker_class, workers=self.workers,
                     threads=self.threads, conn_max_age=self.conn_max_age, db_path=db_path)
        if self.pool:
            entry.update(db_pool="native", **{POOL_FIELDS[k][1]: v for k, v in self.pool.items()})
        if layout.get("compose_overlay"):
            entry["compose_overlay"] = layout["compose_overlay"]
        return entry

    def misfits(self, base: dict) -> list[str]:
        """What the app host of `base` (a variant of config/presets.yml: its image, its lock)
        cannot run from this fix, one line each naming the field; [] when it fits."""
        lock = base.get("app_lock", catalog.INCIDENT_LOCK)
        installed = catalog.LOCK_WORKER_CLASSES[lock]
        found = []
        if self.worker_class not in installed:
            found.append(f"gunicorn.worker_class: {self.worker_class!r} is not installed on this app host "
                         f"(installed: {', '.join(installed)})")
        if self.pool and lock != catalog.TODAY_LOCK:
            found.append("django.pool: this app host runs Django 4.1 with psycopg2, which has no pool "
                         "(Django >= 5.1 with psycopg 3 has); keep it none")
        if self.pool and self.conn_max_age != 0:
            found.append(f"django.conn_max_age: {self.conn_max_age} with a pool: the pool keeps the "
                         "connections, Django refuses persistent connections with it (set 0)")
        return found

    def as_dict(self) -> dict:
        return asdict(self)

    def changes(self, start: FixSettings) -> dict:
        """What this fix changed from start, as with_changes takes it: start.with_changes(c) == self.
        The state keeps this, never the whole settings (they would repeat what the scenario runs)."""
        before, after = start.sections(), self.sections()
        found: dict = {}
        for section, value in after.items():
            if value == before[section]:
                continue
            if section == "sysctls":
                found[section] = {**value, WHOLE: True}  # a key removed must stay removed
            elif isinstance(value, dict) and isinstance(before[section], dict):
                found[section] = {k: v for k, v in value.items() if before[section].get(k) != v}
            else:
                found[section] = value
        return found


def shown() -> str:
    """fix.yml's path as the trainee types it (relative to the checkout)."""
    try:
        return str(FIX_FILE.relative_to(ROOT))
    except ValueError:
        return str(FIX_FILE)


def _field(where: str, why: str) -> LabError:
    return LabError(f"{shown()}: {where}: {why}")


def _whole(where: str, name: str, value) -> int:
    if isinstance(value, bool):
        raise _field(where, f"{value!r} is not a whole number")
    try:
        return bounds.whole(name, str(value))
    except LabError as exc:
        raise _field(where, str(exc)) from None


def _number(value) -> int | float:
    """A pool timeout as written: 30, not 30.0."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _pool(value) -> dict | None:
    if value is None or str(value).strip() == "none":
        return None
    if not isinstance(value, dict) or set(value) != set(POOL_FIELDS):
        raise _field("django.pool", f"none, or exactly {', '.join(POOL_FIELDS)} (Django's psycopg pool)")
    pool: dict = {}
    for key, (name, _) in POOL_FIELDS.items():
        if isinstance(value[key], bool):
            raise _field(f"django.pool.{key}", f"{value[key]!r} is not a number")
        try:
            pool[key] = _number(bounds.number(name, value[key]))
        except LabError as exc:
            raise _field(f"django.pool.{key}", str(exc)) from None
    if pool["min_size"] > pool["max_size"]:
        raise _field("django.pool.min_size", f"{pool['min_size']} is above max_size {pool['max_size']}")
    return pool


def _loadgen(value: dict) -> tuple[int, str]:
    generators = _whole("loadgen.generators", "LOADGENS", value["generators"])
    try:
        low, high = bounds.port_range("LOADGEN_PORT_RANGE", value["port_range"])
    except LabError as exc:
        raise _field("loadgen.port_range", str(exc)) from None
    return generators, f"{low} {high}"


def _sysctl(key: str, value) -> str:
    text = str(value).strip()
    where = f"sysctls.{key}"
    if key == PORT_RANGE:
        parts = text.split()
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts) \
                or not 1024 <= int(parts[0]) < int(parts[1]) <= 65535:
            raise _field(where, f"{text!r} must be two ports 'low high', 1024 <= low < high <= 65535")
        return f"{int(parts[0])} {int(parts[1])}"
    if key == TW_REUSE:
        if text not in ("0", "1", "2"):
            raise _field(where, f"{text!r} must be 0, 1 or 2")
        return text
    if not SYSCTL_NUMBER.fullmatch(text):
        raise _field(where, f"{text!r} must be a whole number")
    return str(int(text))


def parse(data) -> FixSettings:
    """A FixSettings from fix.yml's content; one line naming the field for any bad value."""
    if not isinstance(data, dict):
        raise _field("the file", f"expected the sections {', '.join(SECTIONS)}")
    unknown = set(data) - set(SECTIONS)
    missing = set(SECTIONS) - set(data)
    if unknown or missing:
        raise _field("the file", (f"unknown section(s) {', '.join(sorted(map(str, unknown)))}; " if unknown else "")
                     + (f"missing {', '.join(sorted(missing))}; " if missing else "")
                     + f"the sections are {', '.join(SECTIONS)}")
    for section in ("gunicorn", "django", "loadgen"):
        if not isinstance(data[section], dict) or set(data[section]) != SECTIONS[section]:
            raise _field(section, f"needs exactly {', '.join(sorted(SECTIONS[section]))}")
    gunicorn = data["gunicorn"]
    worker_class = str(gunicorn["worker_class"]).strip()
    if worker_class not in catalog.WORKER_CLASSES:  # which of them the host installs: FixSettings.misfits
        raise _field("gunicorn.worker_class", f"{worker_class!r} is not one of: {', '.join(catalog.WORKER_CLASSES)}")
    pgbouncer = str(data["pgbouncer"]).strip()
    if pgbouncer not in PGBOUNCER:
        raise _field("pgbouncer", f"{pgbouncer!r} is not one of: none (the app talks to Postgres over TCP), "
                     "remote (PgBouncer on its own host, TCP), local (PgBouncer beside the app, Unix socket)")
    sysctls = data["sysctls"] or {}
    if not isinstance(sysctls, dict):
        raise _field("sysctls", "must be a mapping of sysctl: value")
    allowed = sysctl_keys()
    for key in sysctls:
        if key not in allowed:
            raise _field(f"sysctls.{key}", f"not a sysctl the lab sets; valid: {', '.join(sorted(allowed))}")
    generators, port_range = _loadgen(data["loadgen"])
    return FixSettings(worker_class=worker_class, workers=_whole("gunicorn.workers", "WORKERS", gunicorn["workers"]),
               threads=_whole("gunicorn.threads", "THREADS", gunicorn["threads"]),
               conn_max_age=_whole("django.conn_max_age", "CONN_MAX_AGE", data["django"]["conn_max_age"]),
               pgbouncer=pgbouncer, sysctls={str(k): _sysctl(str(k), v) for k, v in sysctls.items()},
               pool=_pool(data["django"]["pool"]), loadgens=generators, loadgen_port_range=port_range)


def forbidden_changes(start: FixSettings, fix: FixSettings, forbidden: tuple[str, ...] | list[str]) -> list[str]:
    """'section: before -> after' for each forbidden section the fix changed."""
    before, after = start.sections(), fix.sections()
    found = []
    for section in forbidden:
        if before[section] == after[section]:
            continue
        if isinstance(before[section], dict):
            keys = sorted(set(before[section]) | set(after[section]))
            changed = [f"{k} {before[section].get(k, '(unset)')!s} -> {after[section].get(k, '(unset)')!s}"
                       for k in keys if before[section].get(k) != after[section].get(k)]
            found.append(f"{section}: {', '.join(changed)}")
        else:
            found.append(f"{section}: {before[section]} -> {after[section]}")
    return found


HEADER = """\
# The app host's settings for exercise {name!r}: edit them, then run `make exercise-check`.
# Written by `make exercise-start` with the settings the host runs now. Yours to change
# (git-ignored); `make exercise-solve` overwrites it with the reference solution.
{forbidden}"""
COMMENTS = {
    "gunicorn": "# gunicorn: worker_class ({classes}), workers (1-64), threads per worker (1-256)",
    "django": "# Django DATABASES: CONN_MAX_AGE, seconds a DB connection is kept (0 = a new one per request);\n"
              "# pool: none, or Django's psycopg pool (Django >= 5.1 with psycopg 3 only), per worker process:\n"
              "#   min_size (0-1000) kept open, max_size (1-1000) at most, timeout (0.1-300) seconds a request\n"
              "#   waits for one before PoolTimeout; with a pool, CONN_MAX_AGE stays 0",
    "pgbouncer": "# none: the app talks to Postgres over TCP; remote: through PgBouncer on its own host (TCP);\n"
                 "# local: through PgBouncer beside the app, over a Unix socket",
    "sysctls": "# the app host's kernel settings (sysctl -w on a real host)",
    "loadgen": "# not the app host: the load generator (k6) that runs the check's fixed load. generators (1-8)\n"
               "# share the same load; port_range is each generator's own net.ipv4.ip_local_port_range",
}


def render(fix: FixSettings, exercise_name: str, forbidden: tuple[str, ...] = (), base: dict | None = None) -> str:
    """fix.yml's text; base: the host's variant (its image installs the worker classes named)."""
    note = (f"# Not yours to change in this exercise: {', '.join(forbidden)}.\n" if forbidden else "")
    classes = catalog.LOCK_WORKER_CLASSES[(base or {}).get("app_lock", catalog.INCIDENT_LOCK)]
    parts = [HEADER.format(name=exercise_name, forbidden=note)]
    for section, value in fix.sections().items():
        parts.append(COMMENTS[section].replace("{classes}", ", ".join(classes)))
        parts.append(yaml.safe_dump({section: value}, sort_keys=False, default_flow_style=False).rstrip())
    return "\n".join(parts) + "\n"


def write(fix: FixSettings, exercise_name: str, forbidden: tuple[str, ...] = (), base: dict | None = None) -> None:
    WORKSPACE_DIR.mkdir(parents=True, exist_ok=True)
    FIX_FILE.write_text(render(fix, exercise_name, forbidden, base))


def read() -> FixSettings:
    try:
        text = FIX_FILE.read_text()
    except OSError:
        raise LabError(f"{shown()} is missing: `make exercise-start` writes it") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _field("the file", f"not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data)
