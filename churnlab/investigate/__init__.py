"""Investigate a host the lab did not build: a read-only probe, its snapshot, and the verdict.

Every module here but none is standard library only, so the probe runs as one
file (`make probe`: a zipapp, churnlab/investigate/pyz.py) on a host that has
only the system python3: args (the command's input, checked), pyconfig (a
gunicorn config read with ast, never run), procs (the app server from /proc),
logs (the journal or a log file: errors by kind), redact, snapshot (the one
record: its writer and reader), probe (what is read, in what order), verdict
(the snapshot as diagnosis Facts, and the report) and main (the command).
"""
