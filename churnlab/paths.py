"""Where things live in the repository. One place, so nothing guesses paths."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "compose"
BASE_FILE = COMPOSE_DIR / "base.yml"
BASE_IMAGE_SCRIPT = COMPOSE_DIR / "images" / "base" / "build-base.sh"
RESULTS_DIR = ROOT / "results"
SECRETS_DIR = ROOT / ".secrets"
STATE_DIR = ROOT / ".lab"
STATE_FILE = STATE_DIR / "state.json"
