"""The lab's variants, kernel profiles and knobs, read from the compose overlays.

A variant is compose/variant-<name>.yml and a profile is compose/profile-<name>.yml:
adding a file adds a choice, and the error for a bad name lists what exists.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from churnlab.errors import LabError
from churnlab.paths import COMPOSE_DIR

# Knobs that override a variant's preset; each is a compose interpolation variable.
KNOBS = ("WORKER_CLASS", "WORKERS", "THREADS", "CONN_MAX_AGE")
WORKER_CLASSES = ("eventlet", "gthread", "sync", "gevent")


def _names(prefix: str, compose_dir: Path = COMPOSE_DIR) -> list[str]:
    return sorted(p.stem[len(prefix):] for p in compose_dir.glob(f"{prefix}*.yml"))


def variants() -> list[str]:
    return _names("variant-")


def profiles() -> list[str]:
    return _names("profile-")


def _check(kind: str, name: str, valid: list[str]) -> None:
    if name not in valid:
        raise LabError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def _check_knobs(knobs: dict[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in knobs.items():
        if value is None or str(value) == "":
            continue
        if key not in KNOBS:
            raise LabError(f"unknown knob {key!r}; valid knobs: {', '.join(KNOBS)}")
        value = str(value).strip()
        if key == "WORKER_CLASS":
            if value not in WORKER_CLASSES:
                raise LabError(f"WORKER_CLASS={value!r} is not one of: {', '.join(WORKER_CLASSES)}")
        elif not value.isdigit() or (key != "CONN_MAX_AGE" and int(value) < 1):
            minimum = 0 if key == "CONN_MAX_AGE" else 1
            raise LabError(f"{key}={value!r} must be a whole number >= {minimum}")
        clean[key] = value
    return clean


@dataclass(frozen=True)
class Selection:
    """A validated choice of variant, profile and knob overrides."""

    variant: str
    profile: str
    knobs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, variant: str, profile: str, knobs: dict[str, str] | None = None) -> Selection:
        _check("variant", variant, variants())
        _check("profile", profile, profiles())
        return cls(variant, profile, _check_knobs(knobs or {}))

    def files(self) -> list[Path]:
        return [
            COMPOSE_DIR / "base.yml",
            COMPOSE_DIR / f"variant-{self.variant}.yml",
            COMPOSE_DIR / f"profile-{self.profile}.yml",
        ]

    def as_dict(self) -> dict:
        return {"variant": self.variant, "profile": self.profile, "knobs": dict(self.knobs)}


def check_variant(name: str) -> str:
    _check("variant", name, variants())
    return name


def check_profile(name: str) -> str:
    _check("profile", name, profiles())
    return name
