"""Files the lab writes: whole or not at all, and owned by whom they must be."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str) -> Path:
    """Write text to path through a temporary file in the same folder, so a reader sees
    the old content or the new, never half of it (and two writers never mix)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def chown_if_root(paths, uid: int, gid: int) -> None:
    """Give paths to uid:gid. Only root can, and only root needs to: a caller that is
    not root owns what it made, and the containers run with its uid."""
    if os.getuid() != 0:
        return
    for path in paths:
        os.chown(path, uid, gid)
