"""A snapshot's verdict: the snapshot as diagnosis Facts (its source of Facts),
the same diagnosis as `make diagnose`, and the report a person reads. The
probe's own output and `churnlab diagnose --snapshot FILE` both come from here,
so the verdict offline is the verdict on the host."""
from __future__ import annotations

from churnlab import diagnosis
from churnlab.core import fmt
from churnlab.diagnosis.workers import worker_class_lines
from churnlab.evidence import port_budget
from churnlab.investigate.snapshot import Snapshot

# Kernel counters worth a line when they moved while sampling (TcpExt, then Tcp)
WATCHED = (("TcpExt", "ListenOverflows"), ("TcpExt", "ListenDrops"), ("TcpExt", "TCPTimeWaitOverflow"),
           ("TcpExt", "TW"), ("TcpExt", "TWRecycled"), ("Tcp", "ActiveOpens"), ("Tcp", "AttemptFails"),
           ("Tcp", "EstabResets"))

# The classes that run a request per thread: gunicorn's threads setting means something only for them
# (eventlet, gevent and the ASGI workers ignore it).
THREADED = ("gthread", "sync", "threads")


def settings(snap: Snapshot) -> dict[str, str]:
    """The app's settings as the diagnosis names them, from what the probe found."""
    app = snap.app
    out: dict[str, str] = {}
    if app is None:
        return out
    if app.worker_class:
        out["WORKER_CLASS"] = app.worker_class
    workers = app.configured_workers or (len(app.workers) or None)
    if workers:
        out["WORKERS"] = str(workers)
    if app.threads:
        out["THREADS"] = str(app.threads)
    if app.environ.get("CONN_MAX_AGE", "").isdigit():  # where the app takes it from its environment
        out["CONN_MAX_AGE"] = app.environ["CONN_MAX_AGE"]
    return out


def facts_from_snapshot(snap: Snapshot) -> diagnosis.Facts:
    """Facts of a snapshot: its errors by kind, its sampled sockets and the errors per second."""
    errors = snap.errors.records()
    facts = diagnosis.Facts(settings=settings(snap), errors=errors, failed=sum(e["count"] for e in errors))
    if not snap.errors.source:
        facts.unjudged.append("the app's errors: no journal or log was read (--journal-unit UNIT or --log FILE)")
    return diagnosis.facts_from_evidence(snap.netns + snap.errors.per_second, facts)


def verdict_of(snap: Snapshot) -> diagnosis.Verdict:
    verdict = diagnosis.diagnose(facts_from_snapshot(snap))
    verdict.evidence += worker_class_lines(settings(snap))
    if note := port_budget.reuse_note(snap.sysctls.get("tcp_tw_reuse")):
        verdict.evidence.append(note)
    return verdict


def _delta(snap: Snapshot, group: str, name: str) -> int | None:
    before = snap.counters.get("before", {}).get(group, {}).get(name)
    after = snap.counters.get("after", {}).get(group, {}).get(name)
    return None if before is None or after is None else after - before


def found(snap: Snapshot) -> list[str]:
    """What was read, a line each: the host, the app server, the destinations, the errors, the kernel."""
    s = snap.sysctls
    lines = [f"host {snap.host}, sampled {snap.seconds} s from {snap.taken_at}, as "
             + ("root" if snap.uid == 0 else f"uid {snap.uid} (not root)"),
             f"ports: ip_local_port_range {' '.join(map(str, s.get('port_range', [])))} "
             f"({fmt.number(s.get('port_range_size'), ',')} usable, {s.get('reserved_ports', 0)} reserved), "
             f"tcp_tw_reuse={s.get('tcp_tw_reuse')}, TIME_WAIT {port_budget.TIME_WAIT_SECONDS:g} s"]
    for app in snap.app_servers:
        where = {True: "", False: " (another network namespace)", None: ""}[app.same_netns]
        lines.append(f"app server: {app.server} master {app.master}{where}, {len(app.workers)} worker processes"
                     + (f", worker class {app.worker_class} (from {app.worker_class_from})" if app.worker_class
                        else f", worker class {app.worker_class_from}" if app.worker_class_from else "")
                     + (f", threads {app.threads}" if app.threads and app.worker_class in THREADED else "")
                     + (f", {app.cores} async cores each" if app.cores else "")
                     + (f", interface {app.interface}" if app.interface else "")
                     + (f", config {app.config_file}" if app.config_file else "")
                     + (f", unit {app.unit}" if app.unit else ""))
        seen = "; ".join(f"{source}: {value}" for source, value in app.sources.items())
        if seen:
            lines.append(f"  worker class seen in: {seen}")
    if not snap.app_servers:
        lines.append("app server: none found (gunicorn, uwsgi, uvicorn, daphne, granian)")
    for name, address in snap.destinations.items():
        states = ", ".join(f"{n:,} {state}" for state, n in sorted(snap.states.get(name, {}).items())) or "none now"
        rates = [r["targets"].get(name, {}).get("new") for r in snap.netns[1:]]
        rate = sum(r or 0 for r in rates) / max(1, len(rates))
        lines.append(f"DB destination {name}" + (f" ({address})" if address != name else "")
                     + f": {states}; {rate:,.1f} new connections/s over {snap.seconds} s")
    if not snap.destinations:
        lines.append("DB destinations: no socket toward 5432/6432 (name others with --db HOST:PORT)")
    if snap.errors.source:
        lines.append(f"errors in {snap.errors.source} ({snap.errors.lines:,} lines): "
                     + ("; ".join(f"{k['count']:,} x {k['kind']}" + (f" (toward {k['target']})" if k['target'] else "")
                                  + (f", {k['first']} .. {k['last']}" if k.get("first") else "")
                                  for k in snap.errors.kinds) or "none of the known kinds"))
    moved = [f"{name} +{d:,}" for group, name in WATCHED if (d := _delta(snap, group, name))]
    lines.append("kernel counters while sampling: " + (", ".join(moved) or "no change"))
    for port, queued in snap.listen.items():
        lines.append(f"listen queue of the app's port {port}: {queued:,} waiting to be accepted")
    lines += [f"could not read: {what}" for what in snap.unreadable]
    return lines


def report(snap: Snapshot) -> str:
    """The probe's output: what was read, then the verdict, as `make diagnose` words it."""
    verdict = verdict_of(snap)
    return "\n".join([*found(snap), f"verdict ({verdict.case}): {verdict.text()}"])
