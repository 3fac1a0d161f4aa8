"""`make investigate`: the read-only probe on each app host of an inventory, over Ansible.

The probe (churnlab.investigate) is one stdlib-only file, built by `make probe`.
playbooks/investigate.yml runs it with the host's own python3 on each app host
of the inventory (within LIMIT), read-only and alike in check mode, and fetches
each host's snapshot into results/investigate-<id>/<host>.json (0600). The
verdict of each snapshot is given here, on the controller, by the same reader
`make diagnose SNAPSHOT=<file>` uses. The guard decides first, as for every
host command: outside the lab it needs CONFIRM, never CONFIRM_REPRO (nothing
is changed).
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

from churnlab.core.console import console
from churnlab.core.errors import LabError
from churnlab.core.paths import RESULTS_DIR, ROOT

PLAYBOOK = "investigate.yml"
PREFIX = "investigate-"
# A host pattern of Ansible's: names, groups, globs, `,` `:` `!` `&`; not a file of names (@file), not an option.
_LIMIT = re.compile(r"[A-Za-z0-9_.*?\[\]:,!&~-]{1,200}")


def probe_file() -> Path:
    """The probe as one file, built afresh from this checkout (the zipapp `make probe` builds)."""
    from churnlab.investigate import pyz

    return pyz.build(ROOT / pyz.DEFAULT_OUT)


def check_limit(value: str) -> list[str]:
    """LIMIT as ansible-playbook's --limit, or nothing when it is empty."""
    text = value.strip()
    if not text:
        return []
    if not _LIMIT.fullmatch(text) or text.startswith(("-", "@")):
        raise LabError(f"LIMIT={text[:60]!r} must be host names or groups of the inventory "
                       "(Ansible's pattern: app1, app1:app2, 'app*'), not a file or an option")
    return ["--limit", text]


def new_folder() -> Path:
    """results/investigate-<UTC time>/ (0700): the snapshots of one investigation."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(100):
        folder = RESULTS_DIR / f"{PREFIX}{stamp}{'' if n == 0 else f'-{n}'}"
        try:
            folder.mkdir(mode=0o700)
            return folder
        except FileExistsError:
            continue
    raise LabError(f"cannot make a new folder {PREFIX}{stamp} under {RESULTS_DIR}")


def show_verdicts(folder: Path, hosts: list[str]) -> list[str]:
    """Each host's snapshot made owner-only, and the probe's report of it printed (what `make diagnose
    SNAPSHOT=<file>` prints); the hosts whose snapshot is missing."""
    from churnlab.investigate import snapshot, verdict

    missing = []
    for host in hosts:
        path = folder / f"{host}.json"
        if not path.is_file():
            missing.append(host)
            continue
        os.chmod(path, 0o600)
        print(f"== {host} ({path.relative_to(RESULTS_DIR.parent)})\n{verdict.report(snapshot.read(str(path)))}\n",
              flush=True)
    if missing:
        console.print(f"[yellow]no snapshot from:[/] {', '.join(missing)} (see Ansible's output above)")
    return missing
