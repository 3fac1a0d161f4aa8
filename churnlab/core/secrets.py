"""Generated, git-ignored secrets for the lab. Never printed in full.

The files are 0600 in a 0700 folder; a wider mode found there is narrowed.
The compose lab gets them as environment-sourced compose secrets (see
compose/base.yml): compose copies each value into its containers, so the
non-root users there can read it while the host file stays private.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from churnlab.core.errors import LabError
from churnlab.core.paths import SECRETS_DIR

NAMES = ("db_password", "django_secret_key")
# The HTTPS front's self-signed certificate and its key (FRONT=https only):
# PEM files, handed over whole (newlines included).
TLS_NAMES = ("front_cert", "front_key")
TLS_SUBJECT_ALT_NAMES = "DNS:front,DNS:localhost,IP:127.0.0.1"
TLS_DAYS = "825"
FILE_MODE = 0o600
DIR_MODE = 0o700


def env_name(name: str) -> str:
    """The variable compose reads the secret from (secrets: <name>: environment:)."""
    return f"CHURNLAB_SECRET_{name.upper()}"


def private_dir(directory: Path, top: Path = SECRETS_DIR) -> Path:
    """directory, created if missing, with every folder from `top` down to it 0700 from the start
    (mkdir's parents would get the umask's 0755, and keep it until something tightened them)."""
    levels = [directory, *directory.parents]
    chain = levels[:levels.index(top) + 1] if top in levels else [directory]
    for folder in reversed(chain):
        if not folder.is_dir():
            folder.mkdir(mode=DIR_MODE, exist_ok=True)  # another command may make it at the same moment
        if folder.stat().st_mode & 0o777 != DIR_MODE:
            folder.chmod(DIR_MODE)  # mkdir's mode passes through the umask
    return directory


def tighten(directory: Path = SECRETS_DIR) -> list[str]:
    """Narrow the folder to 0700 and the files directly in it to 0600; return what changed."""
    changed = []
    if not directory.is_dir():
        return changed
    if directory.stat().st_mode & 0o777 != DIR_MODE:
        directory.chmod(DIR_MODE)
        changed.append(f"{directory.name}/")
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_mode & 0o777 & ~FILE_MODE:
            path.chmod(FILE_MODE)
            changed.append(path.name)
    return changed


@contextmanager
def _taking_turns(directory: Path) -> Iterator[None]:
    """The secrets folder, private, and this command's alone until the block ends. Two commands at
    once (two makes on a fresh checkout, pytest-xdist's workers) take turns on the folder's lock:
    between one's look and its write the other could otherwise replace a file it had just seen
    missing, and each would go on with its own value (or the front with one's certificate and the
    other's key)."""
    private_dir(directory)
    tighten(directory)
    lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # and the lock with it


def ensure(directory: Path = SECRETS_DIR) -> list[str]:
    """Create any missing secret file (mode 0600); return the names created."""
    created = []
    with _taking_turns(directory):
        for name in NAMES:
            path = directory / name
            if path.exists() and path.read_text().strip():
                continue
            length = 32 if name == "db_password" else 50
            if _create(path, secrets.token_urlsafe(length) + "\n"):
                created.append(name)
    return created


def _create(path: Path, text: str) -> bool:
    """Write a secret file whole, 0600 from its first byte, unless another command (two makes at
    once on a fresh checkout) made it first: then theirs stays, and every reader sees one value."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, FILE_MODE)
        if path.exists():  # there but empty: replaced
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another command's file got there first
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def ensure_front_tls(directory: Path = SECRETS_DIR) -> list[str]:
    """Create the front's self-signed certificate and key once (0600); return the names created.

    openssl writes the key to its file itself (only its path is in argv), in a
    private folder under the secrets folder; both files move in together."""
    with _taking_turns(directory):
        if all((directory / name).is_file() and (directory / name).stat().st_size for name in TLS_NAMES):
            return []
        return _make_front_tls(directory)


def _make_front_tls(directory: Path) -> list[str]:
    openssl = shutil.which("openssl")
    if not openssl:
        raise LabError("FRONT=https needs the openssl command to make the front's certificate: "
                       "apt-get install openssl")
    cert, key = TLS_NAMES
    with tempfile.TemporaryDirectory(dir=directory, prefix=".tls-") as tmp:
        work = Path(tmp)
        proc = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(work / key), "-out", str(work / cert), "-days", TLS_DAYS,
             "-subj", "/CN=churnlab-front", "-addext", f"subjectAltName={TLS_SUBJECT_ALT_NAMES}"],
            capture_output=True, text=True)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            raise LabError(f"openssl could not make the front's certificate: {last}")
        for name in TLS_NAMES:
            (work / name).chmod(FILE_MODE)
            (work / name).replace(directory / name)
    return list(TLS_NAMES)


def compose_env(directory: Path = SECRETS_DIR) -> dict[str, str]:
    """The secrets as compose reads them (only those that exist yet)."""
    env = {}
    for name in NAMES:
        path = directory / name
        if path.is_file():
            env[env_name(name)] = path.read_text().strip()
    for name in TLS_NAMES:
        path = directory / name
        if path.is_file():
            env[env_name(name)] = path.read_text()
    return env


