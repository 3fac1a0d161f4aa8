"""The trainee's fix: one file, training/workspace/fix.yml (git-ignored).

It holds what an ops engineer would change on the app host: gunicorn's worker
class, workers and threads, Django's CONN_MAX_AGE, whether the app goes
through PgBouncer and where, and the host's sysctls. `make exercise-start`
writes it with the running settings; `make exercise-check` reads it, checks
every value (one line naming the field, exit code 2) and maps it onto the
lab's own presets: a variant and a profile named `exercise` and
`exercise-host` in a copy of config/presets.yml (churnlab.training.labport).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import yaml

from churnlab import bounds, catalog
from churnlab.errors import LabError
from churnlab.paths import ROOT

WORKSPACE_DIR = ROOT / "training" / "workspace"
FIX_FILE = WORKSPACE_DIR / "fix.yml"
# pgbouncer: in fix.yml -> the variant's db_path in config/presets.yml.
PGBOUNCER = {"none": "direct", "remote": "pgbouncer", "local": "pgbouncer-local"}
# The variant each db_path takes its compose layout from (its compose_overlay).
LAYOUT_VARIANT = {"direct": "direct", "pgbouncer": "pgbouncer", "pgbouncer-local": "pgbouncer-local"}
SECTIONS = {"gunicorn": {"worker_class", "workers", "threads"}, "django": {"conn_max_age"},
            "pgbouncer": None, "sysctls": None}
PORT_RANGE = "net.ipv4.ip_local_port_range"
TW_REUSE = "net.ipv4.tcp_tw_reuse"
SYSCTL_NUMBER = re.compile(r"[0-9]{1,7}")


def sysctl_keys() -> set[str]:
    """The sysctls a fix may set: those the lab's profiles set (config/presets.yml)."""
    return {key for name in catalog.profiles() for key in catalog.profile_sysctls(name)}


@dataclass(frozen=True)
class Fix:
    worker_class: str
    workers: int
    threads: int
    conn_max_age: int
    pgbouncer: str                       # none | remote | local
    sysctls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_selection(cls, selection: catalog.Selection) -> Fix:
        """The settings a selection runs (the variant's preset, its knobs, its profile's sysctls)."""
        env = selection.app_environment()
        db_path = catalog.variant(selection.variant)["db_path"]
        return cls(worker_class=env["WORKER_CLASS"], workers=int(env["WORKERS"]), threads=int(env["THREADS"]),
                   conn_max_age=int(env["CONN_MAX_AGE"]),
                   pgbouncer=next(k for k, v in PGBOUNCER.items() if v == db_path),
                   sysctls=catalog.profile_sysctls(selection.profile))

    def sections(self) -> dict:
        return {"gunicorn": {"worker_class": self.worker_class, "workers": self.workers, "threads": self.threads},
                "django": {"conn_max_age": self.conn_max_age}, "pgbouncer": self.pgbouncer,
                "sysctls": dict(self.sysctls)}

    def with_changes(self, changes: dict) -> Fix:
        """This fix with some sections changed (the reference solutions name only what they change)."""
        merged = self.sections()
        for section, value in changes.items():
            if section not in SECTIONS:
                raise LabError(f"unknown section {section!r}; valid: {', '.join(SECTIONS)}")
            if isinstance(merged[section], dict) and isinstance(value, dict):
                merged[section] = {**merged[section], **value}
            else:
                merged[section] = value
        return parse(merged)

    def preset(self, base: dict) -> dict:
        """This fix as a variant of config/presets.yml: the base preset's image and lock, our numbers."""
        db_path = PGBOUNCER[self.pgbouncer]
        layout = catalog.variant(LAYOUT_VARIANT[db_path])
        entry = {k: v for k, v in base.items() if k not in ("incident", "about", "compose_overlay")}
        entry.update(about="the running exercise", worker_class=self.worker_class, workers=self.workers,
                     threads=self.threads, conn_max_age=self.conn_max_age, db_path=db_path)
        if layout.get("compose_overlay"):
            entry["compose_overlay"] = layout["compose_overlay"]
        return entry

    def as_dict(self) -> dict:
        return asdict(self)


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


def _sysctl(key: str, value) -> str:
    text = str(value).strip()
    where = f"sysctls.{key}"
    if key == PORT_RANGE:
        parts = text.split()
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) \
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


def parse(data) -> Fix:
    """A Fix from fix.yml's content; one line naming the field for any bad value."""
    if not isinstance(data, dict):
        raise _field("the file", f"expected the sections {', '.join(SECTIONS)}")
    unknown = set(data) - set(SECTIONS)
    missing = set(SECTIONS) - set(data)
    if unknown or missing:
        raise _field("the file", (f"unknown section(s) {', '.join(sorted(map(str, unknown)))}; " if unknown else "")
                     + (f"missing {', '.join(sorted(missing))}; " if missing else "")
                     + f"the sections are {', '.join(SECTIONS)}")
    for section in ("gunicorn", "django"):
        if not isinstance(data[section], dict) or set(data[section]) != SECTIONS[section]:
            raise _field(section, f"needs exactly {', '.join(sorted(SECTIONS[section]))}")
    gunicorn = data["gunicorn"]
    worker_class = str(gunicorn["worker_class"]).strip()
    installed = catalog.LOCK_WORKER_CLASSES[catalog.INCIDENT_LOCK]
    if worker_class not in installed:
        raise _field("gunicorn.worker_class", f"{worker_class!r} is not one of: {', '.join(installed)}")
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
    return Fix(worker_class=worker_class, workers=_whole("gunicorn.workers", "WORKERS", gunicorn["workers"]),
               threads=_whole("gunicorn.threads", "THREADS", gunicorn["threads"]),
               conn_max_age=_whole("django.conn_max_age", "CONN_MAX_AGE", data["django"]["conn_max_age"]),
               pgbouncer=pgbouncer, sysctls={str(k): _sysctl(str(k), v) for k, v in sysctls.items()})


def forbidden_changes(start: Fix, fix: Fix, forbidden: tuple[str, ...] | list[str]) -> list[str]:
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
    "gunicorn": "# gunicorn: worker_class (eventlet, gthread, sync), workers (1-64), threads per worker (1-256)",
    "django": "# Django DATABASES CONN_MAX_AGE: seconds a DB connection is kept; 0 = a new one per request",
    "pgbouncer": "# none: the app talks to Postgres over TCP; remote: through PgBouncer on its own host (TCP);\n"
                 "# local: through PgBouncer beside the app, over a Unix socket",
    "sysctls": "# the app host's kernel settings (sysctl -w on a real host)",
}


def render(fix: Fix, exercise_name: str, forbidden: tuple[str, ...] = ()) -> str:
    note = (f"# Not yours to change in this exercise: {', '.join(forbidden)}.\n" if forbidden else "")
    parts = [HEADER.format(name=exercise_name, forbidden=note)]
    for section, value in fix.sections().items():
        parts.append(COMMENTS[section])
        parts.append(yaml.safe_dump({section: value}, sort_keys=False, default_flow_style=False).rstrip())
    return "\n".join(parts) + "\n"


def write(fix: Fix, exercise_name: str, forbidden: tuple[str, ...] = ()) -> None:
    WORKSPACE_DIR.mkdir(parents=True, exist_ok=True)
    FIX_FILE.write_text(render(fix, exercise_name, forbidden))


def read() -> Fix:
    try:
        text = FIX_FILE.read_text()
    except OSError:
        raise LabError(f"{shown()} is missing: `make exercise-start` writes it") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _field("the file", f"not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data)
