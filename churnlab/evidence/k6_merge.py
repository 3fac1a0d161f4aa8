"""Several k6 generators, one run: their results merged exactly.

Each generator (a k6 process with --execution-segment, in a container or on
a loadgen host) leaves its own folder: k6-summary.json (handleSummary),
k6-metrics.csv.gz (one row per metric sample) and k6.log. k6 does not merge
them (grafana/k6#140): counts and rates add up, percentiles do not. So the
percentiles here come from the merged per-request samples (the CSVs'
http_req_duration rows of the load's scenario), with k6's own method, never
from an average of the generators' percentiles.

One generator writes its files in the run folder itself (as before several
existed); n generators write them in loadgen-<name>/ subfolders, and the run
folder gets the merged k6-metrics.csv.gz, so the timeline reads one file
either way. Each generator also gets its own line in run.json's
load.per_loadgen: requests, failures, and the errors k6 itself met
(connect: cannot assign requested address is the generator's own ports
running out, not the app's), dropped iterations, and when it began.
Standard library only (hostrun runs it on the controller).
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from churnlab.evidence.k6_summary import LoadSummary, Unreadable, parse

SUMMARY = "k6-summary.json"
METRICS = "k6-metrics.csv.gz"
LOG = "k6.log"
PART_PREFIX = "loadgen-"
OK_STATUS = "200"

# The errors k6 itself reports for a request (the CSV's `error` tag), by kind,
# in priority order. The first is the one that makes a measurement invalid:
# the generator's own ephemeral ports ran out (grafana/k6#826).
LOADGEN_EADDRNOTAVAIL = "EADDRNOTAVAIL: cannot assign requested address (the generator's own ports)"
K6_ERROR_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (LOADGEN_EADDRNOTAVAIL, re.compile(r"cannot assign requested address", re.I)),
    ("ECONNREFUSED: connection refused", re.compile(r"connection refused", re.I)),
    ("ECONNRESET: connection reset by peer", re.compile(r"connection reset by peer|broken pipe", re.I)),
    ("timeout", re.compile(r"timeout|deadline exceeded", re.I)),
    ("EOF: the server closed the connection", re.compile(r"\bEOF\b")),
    ("EMFILE: too many open files", re.compile(r"too many open files", re.I)),
)
GENERATOR_ERRORS = (LOADGEN_EADDRNOTAVAIL, "EMFILE: too many open files")  # the generator's own limits


def k6_error_kind(text: str) -> str:
    for kind, pattern in K6_ERROR_KINDS:
        if pattern.search(text):
            return kind
    return re.sub(r"\d+(\.\d+)*(:\d+)?", "N", text.strip())[:80] or "unknown"


def percentile(ordered: list[float], pct: float) -> float | None:
    """k6's own percentile of sorted values (its TrendSink.P): linear
    interpolation at rank pct x (count - 1)."""
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    i = pct * (len(ordered) - 1)
    low, high = ordered[math.floor(i)], ordered[math.ceil(i)]
    return low + (high - low) * (i - math.floor(i))


@dataclass
class Samples:
    """What one CSV (or several, concatenated) holds about the load's requests."""

    durations: list[float] = field(default_factory=list)  # http_req_duration of the scenario, ms
    status_counts: Counter[str] = field(default_factory=Counter)  # http_reqs by status
    k6_errors: Counter[str] = field(default_factory=Counter)  # by k6_error_kind
    failed: int = 0  # http_req_failed == 1
    dropped_iterations: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    truncated: bool = False  # the CSV ended early (k6 killed): what it held is kept

    @property
    def requests(self) -> int:
        return sum(self.status_counts.values())

    def add(self, other: Samples) -> None:
        self.durations += other.durations
        self.status_counts.update(other.status_counts)
        self.k6_errors.update(other.k6_errors)
        self.failed += other.failed
        self.dropped_iterations += other.dropped_iterations
        stamps = [t for t in (self.first_ts, other.first_ts) if t is not None]
        self.first_ts = min(stamps) if stamps else None
        stamps = [t for t in (self.last_ts, other.last_ts) if t is not None]
        self.last_ts = max(stamps) if stamps else None


def read_samples(path: Path, copy_to: csv.writer | None = None, header_written: bool = True) -> Samples:
    """The samples of one k6 CSV (rows without a scenario tag are setup()'s smoke
    request, not load). With copy_to, every row is copied there as well. A k6
    that was killed leaves its gzip cut short: what it wrote is read, and kept."""
    samples = Samples()
    if not path.exists():
        return samples
    try:
        _read_rows(path, samples, copy_to, header_written)
    except (EOFError, OSError, zlib.error, csv.Error, ValueError, IndexError):
        samples.truncated = True
    return samples


def _read_rows(path: Path, samples: Samples, copy_to, header_written: bool) -> None:
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        if copy_to is not None and not header_written:
            copy_to.writerow(header)
        col = {name: i for i, name in enumerate(header)}
        at = {name: col.get(name) for name in ("metric_name", "timestamp", "metric_value", "scenario", "status",
                                                "error")}

        def get(row: list[str], name: str) -> str:
            i = at[name]
            return row[i] if i is not None and i < len(row) else ""

        for row in reader:
            if copy_to is not None:
                copy_to.writerow(row)
            metric = get(row, "metric_name")
            if metric == "dropped_iterations":
                samples.dropped_iterations += int(float(get(row, "metric_value") or 0))
                continue
            if not get(row, "scenario"):
                continue
            if metric == "http_req_duration":
                samples.durations.append(float(get(row, "metric_value")))
            elif metric == "http_reqs":
                samples.status_counts[get(row, "status") or "0"] += 1
                if error := get(row, "error"):
                    samples.k6_errors[k6_error_kind(error)] += 1
                ts = float(get(row, "timestamp"))
                samples.first_ts = ts if samples.first_ts is None else min(samples.first_ts, ts)
                samples.last_ts = ts if samples.last_ts is None else max(samples.last_ts, ts)
            elif metric == "http_req_failed" and get(row, "metric_value") not in ("", "0", "0.000000"):
                samples.failed += 1


@dataclass
class Generator:
    """One generator's share of the run (run.json's load.per_loadgen)."""

    name: str
    segment: str = ""
    requests: int = 0
    errors: int = 0  # requests not answered 200 (the app's 499/5xx and k6's own failures)
    k6_errors: dict[str, int] = field(default_factory=dict)  # by kind, as k6 reported them
    dropped_iterations: int = 0
    rps: float | None = None  # over the load's own seconds (k6's rate counts setup() and the START_AT wait)
    first_request: float | None = None  # epoch seconds: the generators began together, or did not
    exit_code: int | None = None
    # its own CPU: seconds used, the cores it could use (its limit, or the machine's), and
    # how busy that kept it: cpu_s / (its seconds x cpu_cores); None where not measured
    cpu_s: float | None = None
    cpu_cores: float | None = None
    cpu_busy: float | None = None
    cpu_throttled: float | None = None  # with a CPU limit: the share of the kernel's periods it hit it in
    summary_problem: str = ""  # why its k6-summary.json gave no figures ("" when it did)

    def as_dict(self) -> dict:
        return asdict(self)


def segments(n: int) -> list[tuple[str, str]]:
    """(--execution-segment, --execution-segment-sequence) for each of n generators."""
    cuts = ["0", *(f"{i}/{n}" for i in range(1, n)), "1"]
    return [(f"{cuts[i]}:{cuts[i + 1]}", ",".join(cuts)) for i in range(n)]


def load_rate(folder: Path, summary: LoadSummary) -> float:
    """Requests per second over the load itself: k6's own rate divides by the whole
    test run, setup() and its START_AT wait included (scenarios.js: lab.load_seconds)."""
    try:
        seconds = float(json.loads((folder / SUMMARY).read_text()).get("lab", {}).get("load_seconds") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        seconds = 0.0
    return summary.requests / seconds if seconds > 0 else summary.rps


def parts(run_dir: Path) -> list[Path]:
    """The generators' folders: loadgen-*/ when there are several, else the run folder."""
    found = sorted(p for p in run_dir.glob(f"{PART_PREFIX}*") if p.is_dir())
    return found or [run_dir]


def cpu_figures(cpu_s: float, seconds: float, cores: float, throttled: float | None = None) -> dict:
    """A generator's cpu_s, cpu_cores, cpu_busy and cpu_throttled (Generator's fields)."""
    busy = round(cpu_s / (seconds * cores), 3) if seconds > 0 and cores > 0 else None
    return {"cpu_s": round(cpu_s, 2), "cpu_cores": round(cores, 3), "cpu_busy": busy, "cpu_throttled": throttled}


TIME = "k6.time"  # on hosts: bash's `time` of k6 ("real user sys", TIMEFORMAT='%R %U %S') and the host's cores


def read_time(path: Path) -> dict:
    """cpu_figures() of a generator timed by bash (playbooks/load.yml), {} when absent or unreadable."""
    try:
        lines = path.read_text().split("\n")
        real, user, system = (float(x) for x in lines[0].split())
        cores = float(lines[1].split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return cpu_figures(user + system, real, cores)


def summarize(run_dir: Path, exit_codes: dict[str, int | None] | None = None,
              segments_by_name: dict[str, str] | None = None,
              cpu: dict[str, dict] | None = None) -> tuple[LoadSummary | None, list[dict]]:
    """The run's summary and its per-generator lines. One generator: k6's own
    summary, as it wrote it. Several: merged exactly, and their CSVs merged
    into the run folder's k6-metrics.csv.gz. None when no generator left a summary.
    cpu: each generator's cpu_figures(), by name, where measured (else its folder's k6.time, if any)."""
    folders = parts(run_dir)
    several = folders != [run_dir]
    per: list[tuple[Generator, Samples, LoadSummary | None]] = []
    out = gzip.open(run_dir / METRICS, "wt", newline="") if several else None
    try:
        writer = csv.writer(out) if out else None
        for i, folder in enumerate(folders):
            name = folder.name.removeprefix(PART_PREFIX) if several else "1"
            samples = read_samples(folder / METRICS, writer, header_written=i > 0)
            summary, problem = None, f"{SUMMARY} was not written"
            if (folder / SUMMARY).exists():
                try:
                    summary, problem = parse(folder / SUMMARY), ""
                except Unreadable as exc:
                    problem = str(exc)
            gen = Generator(name=name, segment=(segments_by_name or {}).get(name, ""),
                            requests=summary.requests if summary else samples.requests,
                            errors=samples.requests - samples.status_counts.get(OK_STATUS, 0),
                            k6_errors=dict(samples.k6_errors.most_common()),
                            dropped_iterations=samples.dropped_iterations,
                            rps=load_rate(folder, summary) if summary else None,
                            first_request=samples.first_ts,
                            exit_code=(exit_codes or {}).get(name), summary_problem=problem,
                            **((cpu or {}).get(name) or read_time(folder / TIME)))
            per.append((gen, samples, summary))
    finally:
        if out:
            out.close()
    lines = [g.as_dict() for g, _, _ in per]
    if not several:
        return per[0][2], lines  # k6's own summary, as with one generator before
    summaries = [s for _, _, s in per]
    if any(s is None for s in summaries):
        return None, lines
    merged = merge([s for _, s, _ in per], summaries)  # type: ignore[arg-type]
    merged.rps = sum(g.rps or 0.0 for g, _, _ in per)  # rates added, each over its load's own seconds
    return merged, lines


def merge(samples: list[Samples], summaries: list[LoadSummary]) -> LoadSummary:
    """One summary of several generators: counts and rates added, percentiles,
    average and maximum from the concatenated per-request samples."""
    total = Samples()
    for s in samples:
        total.add(s)
    ordered = sorted(total.durations)
    requests = sum(s.requests for s in summaries)
    statuses: Counter[str] = Counter()
    for s in summaries:
        statuses.update(s.status_counts)
    failed = sum(s.error_rate * s.requests for s in summaries)
    first = summaries[0]
    return LoadSummary(
        scenario=first.scenario, requests=requests, rps=sum(s.rps for s in summaries),
        error_rate=failed / requests if requests else 0.0, status_counts=dict(statuses),
        p50_ms=percentile(ordered, 0.50), p90_ms=percentile(ordered, 0.90), p95_ms=percentile(ordered, 0.95),
        p99_ms=percentile(ordered, 0.99), max_ms=ordered[-1] if ordered else None,
        avg_ms=sum(ordered) / len(ordered) if ordered else None,
        thresholds_passed=all(s.thresholds_passed for s in summaries),
        thresholds_crossed=sorted({c for s in summaries for c in s.thresholds_crossed}),
        vus=first.vus, keepalive=first.keepalive)  # each generator names the run's VUS, not its share
