"""Files the lab writes: whole or not at all, and owned by whom they must be."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int | None = None) -> Path:
    """Write text to path through a temporary file in the same folder, so a reader sees
    the old content or the new, never half of it (and two writers never mix). With `mode`
    (0o600), the file has that mode from its first byte; the temporary file never stays."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if mode is None:
            tmp.write_text(text)
        else:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as f:
                f.write(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def chown_if_root(paths, uid: int, gid: int) -> None:
    """Give paths to uid:gid. Only root can, and only root needs to: a caller that is
    not root owns what it made, and the containers run with its uid."""
    if os.getuid() != 0:
        return
    for path in paths:
        os.chown(path, uid, gid)
