"""Where things live in the repository. One place, so nothing guesses paths.

The checkout is the package's parent (an editable install, or `python -m
churnlab` from the checkout); an installed copy finds it through CHURNLAB_ROOT
or the current directory.
"""
from __future__ import annotations

import os
from pathlib import Path


def _own_checkout() -> Path | None:
    parent = Path(__file__).resolve().parents[2]
    return parent if (parent / "compose").is_dir() else None


def _root() -> Path:
    if os.environ.get("CHURNLAB_ROOT"):
        return Path(os.environ["CHURNLAB_ROOT"]).resolve()
    return OWN_CHECKOUT or Path.cwd()


# The checkout this package lives in (None for an installed copy), and the one it works in.
OWN_CHECKOUT = _own_checkout()
ROOT = _root()
COMPOSE_DIR = ROOT / "compose"
BASE_IMAGE_SCRIPT = COMPOSE_DIR / "images" / "base" / "build-base.sh"
PRESETS_FILE = ROOT / "config" / "presets.yml"
RESULTS_DIR = ROOT / "results"
SECRETS_DIR = ROOT / ".secrets"
STATE_DIR = ROOT / ".lab"
STATE_FILE = STATE_DIR / "state.json"
LAB_INVENTORY = ROOT / "inventories" / "lab"
