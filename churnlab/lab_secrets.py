"""Generated, git-ignored secrets for the lab. Never printed in full."""
from __future__ import annotations

import secrets
from pathlib import Path

from churnlab.paths import SECRETS_DIR

NAMES = ("db_password", "django_secret_key")


def ensure(directory: Path = SECRETS_DIR) -> list[str]:
    """Create any missing secret file (mode 0600); return the names created."""
    directory.mkdir(mode=0o700, exist_ok=True)
    created = []
    for name in NAMES:
        path = directory / name
        if path.exists() and path.read_text().strip():
            continue
        length = 32 if name == "db_password" else 50
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(length) + "\n")
        # Postgres and PgBouncer read it as non-root users inside containers.
        path.chmod(0o644)
        created.append(name)
    return created


def masked(value: str) -> str:
    """Show enough of a secret to tell two apart, never the whole of it."""
    value = value.strip()
    return f"{value[:3]}…({len(value)} chars)" if value else "(empty)"


def tighten(directory: Path = SECRETS_DIR) -> list[str]:
    """Owner-only access: the folder 0700 and every file in it 0600 (public keys,
    which sshd in the lab hosts reads as another user, 0644); return what was corrected."""
    corrected = []
    if not directory.is_dir():
        return corrected
    for path in [directory, *sorted(p for p in directory.iterdir() if p.is_file() or p.is_dir())]:
        want = 0o700 if path.is_dir() else 0o644 if path.suffix == ".pub" else 0o600
        if path.stat().st_mode & 0o777 != want:
            path.chmod(want)
            corrected.append(path.name)
    return corrected
