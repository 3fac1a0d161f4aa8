"""The k6 processes of a compose run: one container per generator, each with its
segment of the same run (k6's --execution-segment and the shared
--execution-segment-sequence), each writing in loadgen-<i>/ of the run folder
(evidence.k6_merge merges them exactly). One generator writes in the run folder
itself. They begin together: scenarios.js's setup() waits for START_AT, a moment
far enough ahead for every container to be up. No k6 container outlives its run."""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from churnlab.compose import cpu_meter
from churnlab.compose.stack import Stack
from churnlab.core import files, run_record
from churnlab.evidence import k6_merge

if TYPE_CHECKING:
    from churnlab.load.run import LoadParams

# k6's web dashboard, exported when the run ends as one self-contained page in
# the run folder (run_record.DASHBOARD). Port -1: no dashboard server; with
# K6_NO_API_ARGS no REST API either, so k6 listens on nothing (checked with
# k6 1.1.0). playbooks/load.yml sets the same for host runs.
K6_DASHBOARD_ENV = {"K6_WEB_DASHBOARD": "true", "K6_WEB_DASHBOARD_PORT": "-1", "K6_WEB_DASHBOARD_PERIOD": "1s"}
K6_NO_API_ARGS = ("--address=",)
K6_UID = 10002  # the k6 image's user, used when the caller is root
def k6_container_name(run_id: str) -> str:
    """The k6 container's own name for this run, so it can be removed whatever happens."""
    return f"churnlab-k6-{run_id[:16].lower()}-{uuid.uuid4().hex[:6]}"


def k6_env(params: LoadParams, target: str = "http://app:8000", results: str = "/results",
            extra: dict | None = None) -> list[str]:
    values = {"TARGET": target, "ENDPOINT": params.endpoint, "SCENARIO": params.scenario,
              "VUS": params.vus, "ITERATIONS": params.iterations, "KEEPALIVE": int(params.keepalive),
              "RESULTS_DIR": results, **K6_DASHBOARD_ENV,
              "K6_WEB_DASHBOARD_EXPORT": f"{results}/{run_record.DASHBOARD}", **(extra or {})}
    if target.startswith("https://"):  # the lab front's self-signed certificate (FRONT=https)
        values["TLS_INSECURE"] = 1
    argv: list[str] = []
    for key, value in values.items():
        argv += ["-e", f"{key}={value}"]
    return argv


def remove_container(name: str) -> None:
    subprocess.run(["docker", "rm", "--force", name], capture_output=True, text=True, timeout=60)


START_LEAD_S = 5.0  # + 1 s per generator: containers start in parallel on 2 busy cores


def start_lead(loadgens: int) -> float:
    """Seconds from now to the generators' shared start (none for one generator)."""
    return START_LEAD_S + loadgens if loadgens > 1 else 0.0


@dataclass
class K6Process:
    name: str       # the container's name (removed whatever happens)
    label: str      # k6_merge's name: "1", or i of loadgen-<i>/
    folder: Path    # where its k6.log, summary and CSV land
    argv: list[str]
    segment: str = ""


def generators(stack: Stack, params: LoadParams, run_id: str, run_dir: Path,
                extra_out: list[str] | None = None, extra_run: list[str] | None = None) -> list[K6Process]:
    """One k6 per segment. extra_out: more outputs every generator writes (the live
    panel's FIFO; several writers share it, and the panel skips a line they garbled);
    extra_run: more `compose run` options (a fault's MAX_DURATION)."""
    n = params.loadgens
    extra = {"START_AT": f"{time.time() + start_lead(n):.3f}"} if n > 1 else {}
    found = []
    for i, (segment, sequence) in enumerate(k6_merge.segments(n), 1):
        sub = f"{k6_merge.PART_PREFIX}{i}" if n > 1 else ""
        results = f"/results/{sub}" if sub else "/results"
        name = k6_container_name(run_id)
        split = ["--execution-segment", segment, "--execution-segment-sequence", sequence] if n > 1 else []
        argv = stack.argv("--profile", "load", "run", "--rm", "--no-deps", "--name", name,
                          "--label", f"churnlab.run={run_id}", *k6_env(params, stack.target(), results, extra),
                          *(extra_run or []), "k6", "run", "--quiet", "--no-usage-report", *K6_NO_API_ARGS, *split,
                          "--out", f"csv={results}/{k6_merge.METRICS}", *(extra_out or []), "/scripts/scenarios.js")
        found.append(K6Process(name, str(i), run_dir / sub if sub else run_dir, argv, segment if n > 1 else ""))
    return found


def run_generators(generators: list[K6Process], env: dict[str, str]) -> list[int]:
    """Start every generator at once, wait for all; on an exception (Ctrl-C) kill them, as subprocess.run does,
    and remove their containers at once: killed, `docker compose run` leaves its k6 running, and the live
    panel, which drains k6's lines until they stop, would wait for it (10 s) before the run's own cleanup."""
    procs = []
    try:
        for gen in generators:
            gen.folder.mkdir(exist_ok=True)
            files.chown_if_root([gen.folder], K6_UID, K6_UID)
            with (gen.folder / k6_merge.LOG).open("w") as log:
                procs.append(subprocess.Popen(gen.argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        return [proc.wait() for proc in procs]
    except BaseException:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        for gen in generators[:len(procs)]:
            remove_container(gen.name)
        raise


def cpu(meter: cpu_meter.CpuMeter, generators: list[K6Process], params: LoadParams) -> dict[str, dict]:
    """Each generator's CPU (k6_merge.cpu_figures) by label: the cores it could use are its
    LOADGEN_CPUS, or the machine's (the generators run on this Docker host)."""
    cores = float(params.loadgen_cpus) if params.loadgen_cpus else float(os.cpu_count() or 1)
    used = meter.by_name()
    return {g.label: k6_merge.cpu_figures(used[g.name][0], used[g.name][1], cores, used[g.name][2])
            for g in generators if g.name in used}


def log_tail(generators: list[K6Process], lines: int) -> list[str]:
    tail: list[str] = []
    for gen in generators:
        text = (gen.folder / k6_merge.LOG).read_text(errors="replace").splitlines()[-lines:] \
            if (gen.folder / k6_merge.LOG).exists() else []
        tail += [f"[loadgen {gen.label}] {line}" for line in text] if len(generators) > 1 else text
    return tail
