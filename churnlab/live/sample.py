"""Diagnose the running lab: sample it for a few seconds, read its recent log."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from churnlab import diagnosis
from churnlab.compose.recorder import EvidenceRecorder
from churnlab.compose.stack import Stack
from churnlab.core.console import console


def diagnose(stack: Stack, seconds: float = 5.0, log_window: str = "60s") -> diagnosis.Verdict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "evidence.jsonl"
        with console.status(f"sampling the running lab for {seconds:g} s"):
            with EvidenceRecorder(stack, out, interval=1.0, max_seconds=seconds + 60) as recorder:
                time.sleep(seconds)
            records = recorder.records
    logs = stack.run("logs", "--no-color", "--no-log-prefix", "--since", log_window, "app",
                     capture=True, check=False).stdout
    return diagnosis.diagnose(diagnosis.facts_from_log(records, logs.splitlines(), stack.app_settings(),
                                                       stack.selection.variant, stack.selection.profile))
