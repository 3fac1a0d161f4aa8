"""The exercises of training mode, from config/exercises.yml (one place).

Every field is checked when the file is read: a bad one is one line naming
the exercise and the field. The accepted causes are churnlab.diagnosis.verdict's case
ids, never a list of our own; the hidden scenario is a variant and a profile of
config/presets.yml with knobs checked by catalog.Selection.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from churnlab import diagnosis
from churnlab.core import bounds, catalog
from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT

EXERCISES_FILE = ROOT / "config" / "exercises.yml"
PG_SIZING_DIR = ROOT / "config" / "postgresql"
# The causes a trainee can name: the diagnosis's cases (healthy and
# unclassified are verdicts, not causes), greenlet-churn (a port-exhaustion-postgres
# whose why is greenlet-local connections) and loadgen-limited (the generator failed).
CAUSES = (diagnosis.PORT_EXHAUSTION_POSTGRES, diagnosis.PORT_EXHAUSTION_PGBOUNCER, diagnosis.GREENLET_CHURN,
          diagnosis.MAX_CONNECTIONS, diagnosis.SOCKET_BACKLOG, diagnosis.POOL_TIMEOUT, diagnosis.PREPARED_STATEMENTS,
          diagnosis.CONNECTION_LEAK, diagnosis.LOADGEN_LIMITED)
DIFFICULTIES = ("easy", "medium", "hard")
FIX_SECTIONS = ("gunicorn", "django", "pgbouncer", "sysctls", "loadgen")
SCENARIO_KEYS = {"variant", "profile", "knobs", "pg_sizing", "loadgen", "pool"}
EXERCISE_KEYS = {"about", "difficulty", "points", "ticket", "scenario", "load", "cause", "check", "forbidden",
                 "diagnose", "hints", "solution"}
MYSTERY_KEYS = {"about", "difficulty", "points", "ticket", "draw", "surface", "hints", "diagnose"}
SURFACE_KEYS = {"workers", "vus", "iterations"}


@dataclass(frozen=True)
class Hint:
    cost: int
    text: str


@dataclass(frozen=True)
class Scenario:
    """The hidden cause: what the lab runs when the exercise starts."""

    variant: str
    profile: str
    knobs: dict[str, str] = field(default_factory=dict)
    pg_sizing: str = ""  # config/postgresql/<name>.conf for the db ('' = the lab's default)
    loadgen: dict = field(default_factory=dict)  # the check's generator: {generators, port_range} ({} = the lab's)
    pool: dict = field(default_factory=dict)  # the variant's pool, some fields changed: {min_size, max_size, timeout}

    def selection(self) -> catalog.Selection:
        return catalog.Selection.of(self.variant, self.profile, self.knobs)

    def start_fix(self):
        """fix.yml's content when the exercise starts: the settings the scenario runs."""
        from churnlab.training import workspace

        fix = workspace.FixSettings.of_selection(self.selection(), self.loadgen)
        return fix.with_changes({"django": {"pool": self.pool}}) if self.pool else fix

    def base_preset(self) -> dict:
        """The variant whose app host (image, lock) every fix of this exercise runs on."""
        return catalog.variant(self.variant)


@dataclass(frozen=True)
class Exercise:
    name: str
    about: str
    difficulty: str
    points: int
    ticket_text: str
    scenario: Scenario
    vus: int
    iterations: int
    cause: str
    db_connections_max: int
    min_throughput_share: float | None
    forbidden: tuple[str, ...]
    diagnose: bool
    hints: tuple[Hint, ...]
    solution: dict
    why: str
    seed: int | None = None  # the mystery's draw

    def ticket(self, fix_file: str) -> str:
        share = self.min_throughput_share
        return self.ticket_text.format(vus=self.vus, iterations=self.iterations, fix_file=fix_file,
                                       db_connections_max=self.db_connections_max,
                                       min_throughput_share_pct=round(100 * share) if share else 0).rstrip()

    def hidden_words(self) -> list[str]:
        """What names the hidden scenario as the lab would: used to check that no output shows it."""
        s = self.scenario
        words = [f"VARIANT={s.variant}", f"PROFILE={s.profile}", f"{s.variant} + {s.profile}",
                 f"-{s.variant}-{s.profile}-", *(f"{k}={v}" for k, v in s.knobs.items())]
        if s.pg_sizing:
            words.append(s.pg_sizing)
        if s.loadgen.get("port_range"):
            words.append(f"LOADGEN_PORT_RANGE={s.loadgen['port_range']}")
        return words

    def leaks(self, text: str) -> list[str]:
        """The hidden scenario's names found in text: hidden_words, the variant's name
        as a word (not pgbouncer: also the PgBouncer host's name) and the profile's
        (not default), and either one as a field's value, whatever it is ("variant":
        "pgbouncer", profile: default). Empty when the text gives nothing away."""
        s = self.scenario

        def field(label: str, value: str) -> bool:
            return bool(re.search(rf"""(?i:\b{label})["']?\s*[:=]\s*["']?{re.escape(value)}(?![\w-])""", text))

        found = [word for word in self.hidden_words() if word in text]
        if (s.variant != "pgbouncer" and re.search(rf"(?<![\w-]){re.escape(s.variant)}(?![\w-])", text)) \
                or field("variant", s.variant):
            found.append(s.variant)
        if (s.profile != "default" and re.search(rf"\b{re.escape(s.profile)}\b", text)) or field("profile", s.profile):
            found.append(s.profile)
        return found


@dataclass(frozen=True)
class Mystery:
    name: str
    about: str
    difficulty: str
    points: int
    ticket_text: str
    draw: tuple[str, ...]
    surface: dict[str, tuple[int, ...]]
    hints: tuple[Hint, ...]
    diagnose: bool

    def drawn(self, seed: int, catalogue: dict[str, Exercise]) -> Exercise:
        """The exercise SEED draws: one cause of `draw`, with its own surface numbers."""
        rng = random.Random(seed)
        base = catalogue[rng.choice(self.draw)]
        workers = rng.choice(self.surface["workers"])
        vus = rng.choice(self.surface["vus"])
        # never below the drawn exercise's own load: the smallest that shows its effect
        iterations = max(rng.choice(self.surface["iterations"]), base.iterations)
        knobs = {**base.scenario.knobs, "WORKERS": str(workers)}
        scenario = Scenario(base.scenario.variant, base.scenario.profile, knobs, base.scenario.pg_sizing,
                            dict(base.scenario.loadgen), dict(base.scenario.pool))
        scenario.selection()  # the drawn knobs are the lab's own
        return Exercise(name=self.name, about=self.about, difficulty=self.difficulty, points=self.points,
                        ticket_text=self.ticket_text, scenario=scenario, vus=vus, iterations=max(iterations, vus),
                        cause=base.cause, db_connections_max=base.db_connections_max,
                        min_throughput_share=base.min_throughput_share, forbidden=base.forbidden,
                        diagnose=self.diagnose, hints=self.hints, solution=base.solution, why=base.why, seed=seed)


def _bad(name: str, why: str) -> LabError:
    return LabError(f"{EXERCISES_FILE.name}: exercise {name!r}: {why}")


def _text(name: str, entry: dict, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"{key} must be a non-empty text")
    return value


def _whole(name: str, value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, f"{what} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _hints(name: str, entry: dict) -> tuple[Hint, ...]:
    found = entry.get("hints")
    if not isinstance(found, list) or not found:
        raise _bad(name, "hints must be a non-empty list of {cost, text}")
    hints = []
    for hint in found:
        if not isinstance(hint, dict) or set(hint) != {"cost", "text"}:
            raise _bad(name, f"a hint must be {{cost, text}}, got {hint!r}")
        hints.append(Hint(_whole(name, hint["cost"], 0, 1000, "a hint's cost"), _text(name, hint, "text")))
    if [h.cost for h in hints] != sorted(h.cost for h in hints):
        raise _bad(name, "hints go cheapest first")
    return tuple(hints)


def _common(name: str, entry: dict) -> dict:
    difficulty = entry.get("difficulty")
    if difficulty not in DIFFICULTIES:
        raise _bad(name, f"difficulty {difficulty!r}; valid: {', '.join(DIFFICULTIES)}")
    diagnose = entry.get("diagnose", False)
    if not isinstance(diagnose, bool):
        raise _bad(name, "diagnose is true or false")
    return {"about": _text(name, entry, "about"), "difficulty": difficulty,
            "points": _whole(name, entry.get("points"), 1, 10000, "points"),
            "ticket_text": _text(name, entry, "ticket"), "hints": _hints(name, entry), "diagnose": diagnose}


def _scenario(name: str, entry: dict) -> Scenario:
    raw = entry.get("scenario")
    if not isinstance(raw, dict) or not {"variant", "profile"} <= set(raw) or set(raw) - SCENARIO_KEYS:
        raise _bad(name, "scenario needs variant and profile (and optional knobs, pg_sizing, loadgen, pool)")
    loadgen = raw.get("loadgen") or {}
    if not isinstance(loadgen, dict) or set(loadgen) - {"generators", "port_range"}:
        raise _bad(name, "scenario: loadgen takes generators and port_range")
    pool = raw.get("pool") or {}
    if not isinstance(pool, dict) or set(pool) - {"min_size", "max_size", "timeout"}:
        raise _bad(name, "scenario: pool takes min_size, max_size and timeout (a variant's pool, changed)")
    knobs = {str(k): str(v) for k, v in (raw.get("knobs") or {}).items()}
    sizing = str(raw.get("pg_sizing") or "")
    if sizing and (not sizing.replace("-", "").isalnum() or not (PG_SIZING_DIR / f"{sizing}.conf").is_file()):
        raise _bad(name, f"pg_sizing {sizing!r} is not a file config/postgresql/<name>.conf")
    scenario = Scenario(str(raw["variant"]), str(raw["profile"]), knobs, sizing, dict(loadgen), dict(pool))
    try:
        scenario.start_fix()  # the selection, the knobs, the generator: each checked
    except LabError as exc:
        raise _bad(name, f"scenario: {exc}") from None
    return scenario


def _exercise(name: str, entry: dict) -> Exercise:
    from churnlab.training import workspace

    unknown = set(entry) - EXERCISE_KEYS
    if unknown:
        raise _bad(name, f"unknown field(s) {', '.join(sorted(unknown))}")
    common = _common(name, entry)
    scenario = _scenario(name, entry)
    load = entry.get("load")
    if not isinstance(load, dict) or set(load) != {"vus", "iterations"}:
        raise _bad(name, "load needs vus and iterations")
    vus = bounds.whole("VUS", str(load["vus"]))
    iterations = bounds.whole("ITERATIONS", str(load["iterations"]))
    if iterations < vus:
        raise _bad(name, "load: iterations must be at least vus (the ab scenario)")
    cause = entry.get("cause")
    if cause not in CAUSES:
        raise _bad(name, f"cause {cause!r} is not a case of churnlab/diagnosis/verdict.py: {', '.join(CAUSES)}")
    check = entry.get("check")
    if not isinstance(check, dict) or "db_connections_max" not in check \
            or set(check) - {"db_connections_max", "min_throughput_share"}:
        raise _bad(name, "check needs db_connections_max (and optional min_throughput_share)")
    share = check.get("min_throughput_share")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise _bad(name, f"min_throughput_share must be above 0 and at most 1, got {share!r}")
    forbidden = entry.get("forbidden", [])
    if not isinstance(forbidden, list) or set(forbidden) - set(FIX_SECTIONS):
        raise _bad(name, f"forbidden lists fix.yml sections: {', '.join(FIX_SECTIONS)}")
    solution = entry.get("solution")
    if not isinstance(solution, dict) or set(solution) != {"fix", "why"} or not isinstance(solution["fix"], dict):
        raise _bad(name, "solution needs fix (fix.yml's sections) and why")
    ex = Exercise(name=name, scenario=scenario, vus=vus, iterations=iterations, cause=cause,
                  db_connections_max=_whole(name, check["db_connections_max"], 1, 100000, "db_connections_max"),
                  min_throughput_share=float(share) if share is not None else None, forbidden=tuple(forbidden),
                  solution=solution["fix"], why=_text(name, solution, "why"), **common)
    try:  # the reference solution is a valid fix that changes nothing forbidden and fits the host
        start = scenario.start_fix()
        fixed = start.with_changes(ex.solution)
        if workspace.forbidden_changes(start, fixed, ex.forbidden):
            raise LabError(f"it changes a forbidden section ({', '.join(ex.forbidden)})")
        misfits = fixed.misfits(scenario.base_preset())
        if misfits:
            raise LabError("; ".join(misfits))
    except LabError as exc:
        raise _bad(name, f"solution: {exc}") from None
    return ex


def _mystery(name: str, entry: dict, catalogue: dict[str, Exercise]) -> Mystery:
    unknown = set(entry) - MYSTERY_KEYS
    if unknown:
        raise _bad(name, f"unknown field(s) {', '.join(sorted(unknown))}")
    draw = entry.get("draw")
    if not isinstance(draw, list) or not draw or set(draw) - set(catalogue):
        raise _bad(name, f"draw lists other exercises: {', '.join(catalogue)}")
    surface = entry.get("surface")
    if not isinstance(surface, dict) or set(surface) != SURFACE_KEYS or \
            not all(isinstance(v, list) and v for v in surface.values()):
        raise _bad(name, f"surface needs non-empty lists of {', '.join(sorted(SURFACE_KEYS))}")
    checked = {"workers": [bounds.whole("WORKERS", str(v)) for v in surface["workers"]],
               "vus": [bounds.whole("VUS", str(v)) for v in surface["vus"]],
               "iterations": [bounds.whole("ITERATIONS", str(v)) for v in surface["iterations"]]}
    return Mystery(name=name, draw=tuple(draw), surface={k: tuple(v) for k, v in checked.items()},
                   **_common(name, entry))


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> tuple[dict[str, Exercise], dict[str, Mystery]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read {path}: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict) or not data["exercises"]:
        raise LabError(f"{path}: expected a mapping 'exercises'")
    plain: dict[str, Exercise] = {}
    mysteries: dict[str, Mystery] = {}
    for name, entry in data["exercises"].items():
        if not isinstance(entry, dict):
            raise _bad(name, "must be a mapping")
        if "draw" in entry:
            continue
        plain[str(name)] = _exercise(str(name), entry)
    for name, entry in data["exercises"].items():
        if "draw" in entry:
            mysteries[str(name)] = _mystery(str(name), entry, plain)
    return plain, mysteries


def catalogue(path: Path | None = None) -> tuple[dict[str, Exercise], dict[str, Mystery]]:
    path = path or EXERCISES_FILE
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise LabError(f"the exercises file {path} is missing") from exc
    return _load(path, mtime)


def names(path: Path | None = None) -> list[str]:
    plain, mysteries = catalogue(path)
    order = yaml.safe_load((path or EXERCISES_FILE).read_text())["exercises"]
    return [name for name in order if name in plain or name in mysteries]


def get(name: str, seed: int | None = None, path: Path | None = None) -> Exercise:
    """The exercise to run: a plain one, or the mystery's draw for SEED."""
    plain, mysteries = catalogue(path)
    if name in plain:
        return plain[name]
    if name in mysteries:
        return mysteries[name].drawn(0 if seed is None else seed, plain)
    raise LabError(f"unknown exercise {name!r}; valid exercises: {', '.join(names(path))}")


def listing(path: Path | None = None) -> list[tuple[str, str, str]]:
    """(name, difficulty, about) for `make exercise`."""
    plain, mysteries = catalogue(path)
    found = {**plain, **mysteries}
    return [(name, found[name].difficulty, found[name].about) for name in names(path)]
