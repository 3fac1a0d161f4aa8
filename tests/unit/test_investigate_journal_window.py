"""The probe reads the app's journal since its master started: errors of an earlier run (before a fix and
its restart) are not the running app's. Its start comes from /proc (here a /proc laid out by the test)."""
from __future__ import annotations

import os

from churnlab.investigate import logs, probe, procs
from churnlab.investigate.args import Args


def fake_proc(tmp_path, pid: int = 42, ticks: int = 12345, btime: int = 1_764_700_000):
    (tmp_path / str(pid)).mkdir()
    fields = f"S 1 1 1 0 -1 0 0 0 0 0 5 3 0 0 20 0 1 0 {ticks} 1 1"  # the 22nd field: start, in ticks after boot
    (tmp_path / str(pid) / "stat").write_text(f"{pid} (gun icorn) {fields}\n")
    (tmp_path / "stat").write_text(f"cpu 1 2 3\nbtime {btime}\nprocesses 9\n")
    return str(tmp_path)


def test_a_process_start_is_boot_time_plus_its_ticks(tmp_path):
    proc = fake_proc(tmp_path)
    assert probe.started_at(42, proc) == 1_764_700_000 + 12345 // os.sysconf("SC_CLK_TCK")
    assert probe.started_at(43, proc) is None  # gone: no window, the whole journal


def test_the_journal_is_read_since_the_app_server_started(tmp_path, monkeypatch):
    proc = fake_proc(tmp_path)
    asked = []
    monkeypatch.setattr(logs, "read_journal", lambda unit, unreadable, since=None: asked.append((unit, since)) or [])
    app = procs.AppServer(server="gunicorn", master=42, unit="shop-api.service")
    _, source = probe._log_lines(Args(), app, proc, [])
    started = probe.started_at(42, proc)
    assert asked == [("shop-api.service", started)]
    assert source == f"journal unit shop-api.service (the app server's unit) since the app server started, " \
                     f"{logs.iso(started)}"
