"""The inventory a hosts command uses, read once into a private copy.

The guard lists the copy (ansible-inventory) and ansible-playbook runs against
the same copy, so nothing read later (an edited file, a file system that
answers differently, a script) can change what the guard checked. Only static
inventories are taken: a `hosts` file (INI or YAML) that is not executable,
with `group_vars/` and `host_vars/`. A script or an inventory plugin could
answer the guard and the run differently; either is refused with one line.

The copy is `.lab/inventory-<pid>-<random>/` (0700, files 0600), two levels
below the checkout like `inventories/<name>/`, so the lab's
`{{ inventory_dir }}/../../.secrets/` still names this checkout's secrets.
Vault files are copied as they are (still encrypted). A copy is removed when
its command ends; one left by a process that is gone is removed by the next.
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
from pathlib import Path

from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT, STATE_DIR

READ = ("hosts", "group_vars", "host_vars")
PREFIX = "inventory-"
MAX_FILES = 10_000


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _refuse(path: Path, why: str) -> LabError:
    return LabError(f"{_shown(path)} {why}; only a static inventory is used: a hosts file (INI or YAML, "
                    "not executable) with group_vars/ and host_vars/")


def _copy_file(source: Path, dest: Path, top: Path) -> None:
    try:
        info = source.stat()
    except OSError as exc:
        raise _refuse(source, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(source, "is not a regular file")
    if source.parent == top and info.st_mode & 0o111:
        raise _refuse(source, "is executable: an inventory script can answer the guard and the run differently")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise _refuse(source, f"cannot be read ({exc.strerror})") from None
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _copy_tree(source: Path, dest: Path, top: Path, seen: set[tuple[int, int]], count: list[int]) -> None:
    info = source.stat()
    if (info.st_dev, info.st_ino) in seen:
        raise _refuse(source, "links back into itself")
    seen = seen | {(info.st_dev, info.st_ino)}
    dest.mkdir(mode=0o700)
    for entry in sorted(source.iterdir()):
        count[0] += 1
        if count[0] > MAX_FILES:
            raise _refuse(top, f"holds more than {MAX_FILES:,} files")
        if entry.is_dir():
            _copy_tree(entry, dest / entry.name, top, seen, count)
        else:
            _copy_file(entry, dest / entry.name, top)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep() -> None:
    """Remove the copies left by processes that are gone (killed before they could remove theirs)."""
    for old in STATE_DIR.glob(f"{PREFIX}*"):
        pid = old.name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def take(source: Path) -> Path:
    """A private copy of the inventory folder `source`, or one line saying why it cannot be used."""
    others = sorted(p.name for p in source.iterdir() if p.name not in READ)
    if others:
        raise _refuse(source / others[0], "is not read (Ansible would read it as another inventory source, "
                                          "a plugin or a script)")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _sweep()
    dest = STATE_DIR / f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    dest.mkdir(mode=0o700)
    try:
        _copy_file(source / "hosts", dest / "hosts", source)
        for name in READ[1:]:
            part = source / name
            if part.exists():
                if not part.is_dir():
                    raise _refuse(part, "is not a folder")
                _copy_tree(part, dest / name, source, set(), [0])
    except OSError as exc:
        remove(dest)
        raise _refuse(Path(exc.filename or source), f"cannot be read ({exc.strerror})") from None
    except BaseException:
        remove(dest)
        raise
    return dest


def remove(copy: Path) -> None:
    shutil.rmtree(copy, ignore_errors=True)
