"""The alert rules, one definition rendered for a stated scrape interval and a
runbook base URL (`make alert-rules`, churnlab/cli/alerts.py).

Every `for:` and range window is a whole number of scrapes (TIMING below), so
a rendering for 15 s holds and averages over as many samples as the lab's 1 s:

    deriv window of the port prediction   3 scrapes (3 s at 1 s, 45 s at 15 s)
    for: of the port prediction           none: it fires at the first evaluation that sees the growth
    for: of the DB churn rule             5 scrapes
    for: of the Postgres / PgBouncer ones 10 scrapes
    the churn rule's baseline             60 scrapes, never under an hour (1 h at 1 s and 15 s)

Prometheus should evaluate the rules at the scrape interval (evaluation_interval).
The renderings the repository ships (a test proves each equals render()):
config/prometheus/rules/churnlab.rules.yml (1 s: the compose lab's and the lab
hosts') and config/prometheus/production/churnlab.rules.yml (15 s). Each rule's
runbook_url is RUNBOOK_BASE/<alert>.md, a page of docs/runbooks/.
Standard library only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_RUNBOOK_BASE = "https://github.com/churnlab/churnlab/blob/main/docs/runbooks"
# make alert-rules writes here unless RULES_FILE names another file (relative: to the checkout)
DEFAULT_RULES_FILE = "results/alert-rules/churnlab.rules.{scrape_s}s.yml"
LAB_SCRAPE_S = 1
PRODUCTION_SCRAPE_S = 15
ALERTS = ("EphemeralPortExhaustionPredicted", "PostgresConnectionChurnHigh", "PostgresConnectionsNearMax",
          "PgBouncerClientsWaiting")
MAX_BASE_CHARS = 200
_BASE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+-]+)*/?")


class RulesError(ValueError):
    """A scrape interval or runbook base the rules cannot be rendered for."""


@dataclass(frozen=True)
class Timing:
    """The rules' windows for one scrape interval, in seconds."""
    scrape_s: int

    @property
    def deriv_window_s(self) -> int:
        return 3 * self.scrape_s

    @property
    def churn_for_s(self) -> int:
        return 5 * self.scrape_s

    @property
    def pool_for_s(self) -> int:
        return 10 * self.scrape_s

    @property
    def baseline_s(self) -> int:
        return max(3600, 60 * self.scrape_s)


def duration(seconds: int) -> str:
    """A Prometheus duration: 1h, 2m, 45s, 2m30s."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def runbook_base(text: str) -> str:
    """An absolute http(s) URL without query or fragment, its trailing slash dropped."""
    raw = str(text).strip()
    if len(raw) > MAX_BASE_CHARS or not raw.isascii() or not _BASE.fullmatch(raw):
        shown = raw if len(raw) <= 40 else f"{raw[:30]}... ({len(raw)} characters)"
        raise RulesError(f"RUNBOOK_BASE={shown!r} must be an absolute http(s) URL (scheme, host, path; no query, "
                         f"fragment or space, at most {MAX_BASE_CHARS} characters), e.g. {DEFAULT_RUNBOOK_BASE}")
    return raw.rstrip("/")


def render(scrape_s: int, base: str = DEFAULT_RUNBOOK_BASE) -> str:
    """The rules file for Prometheus scraping every `scrape_s` seconds, linking to `base`/<alert>.md."""
    t = Timing(int(scrape_s))
    base = runbook_base(base)
    values = {
        "SCRAPE": duration(t.scrape_s),
        "DERIV_WINDOW": duration(t.deriv_window_s),
        "CHURN_FOR": duration(t.churn_for_s),
        "POOL_FOR": duration(t.pool_for_s),
        "BASELINE": duration(t.baseline_s),
        "BASE": base,
    }
    text = TEMPLATE
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"TEMPLATE's placeholders {left} have no value"
    return text


# The one definition. @SCRAPE@, @DERIV_WINDOW@, @CHURN_FOR@, @POOL_FOR@,
# @BASELINE@ and @BASE@ are filled by render(); everything else is Prometheus's.
TEMPLATE = """\
---
# Alert rules for PostgreSQL connection churn and ephemeral-port exhaustion,
# rendered for a @SCRAPE@ scrape and rule evaluation interval. Do not edit:
# rendered by `make alert-rules SCRAPE_INTERVAL=@SCRAPE@ RUNBOOK_BASE=...` from
# churnlab/evidence/alert_rules.py (every `for:` and window is a number of
# scrapes; docs/alert-rules.md loads them into an existing Prometheus).
#
# Metrics it needs:
#   churnlab_*       the socket sampler (churnlab/evidence/sockets.py
#                    --textfile) through node_exporter's textfile collector, on
#                    the app hosts, sampling at least once per scrape
#                    (make sampler installs it on a host the lab did not build)
#   node_netstat_*   node_exporter's netstat collector on the app hosts
#   pg_*             postgres_exporter
#   pgbouncer_*      prometheus-pgbouncer-exporter (Debian's)
# Runbooks: @BASE@/<alert>.md
groups:
  - name: churnlab-connection-churn
    rules:
      # Each closed client connection holds its local port in TIME_WAIT for
      # 60 s (Linux, fixed), per destination ip:port. The ports a destination
      # will need once the current churn has run for a minute are what it
      # holds now plus the TIME_WAIT growth rate over the next 60 s. Fires
      # before the first "Cannot assign requested address" while the range is
      # filling, and while it is (nearly) full.
      # The growth is a derivative over three scrapes (@DERIV_WINDOW@): a longer
      # window averages the flat minutes before the churn into it and sees the
      # growth late. No `for:`: the threshold scales with the range, and a
      # hold would spend the scrapes the prediction buys (the lab's repro
      # range of 1,000 ports fills 3-8 s into the incident's load). It fires
      # at the first evaluation that sees the growth: it warns ahead of the
      # first failure when the range takes longer than about a scrape to fill.
      - alert: EphemeralPortExhaustionPredicted
        expr: |
          (
            churnlab_destination_local_ports
            + ignoring (state) clamp_min(deriv(churnlab_destination_sockets{state="time_wait"}[@DERIV_WINDOW@]), 0) * 60
          )
          >= on (instance, job) group_left ()
            (0.95 * churnlab_ephemeral_port_range_size)
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: >-
            {{ $labels.instance }} will run out of ephemeral ports toward {{ $labels.name }}:
            about {{ $value | printf "%.0f" }} needed within 60 s
          description: >-
            At the current connection churn, {{ $labels.instance }} needs about
            {{ $value | printf "%.0f" }} local ports toward {{ $labels.destination }} within 60 s
            (TIME_WAIT), at or above 95% of net.ipv4.ip_local_port_range. New connections will fail
            with EADDRNOTAVAIL ("Cannot assign requested address"). Reuse connections (gthread with
            CONN_MAX_AGE, a pool, PgBouncer beside the app) or widen the range and enable tcp_tw_reuse.
          runbook_url: @BASE@/EphemeralPortExhaustionPredicted.md

      # New connections per second toward Postgres (5432) or PgBouncer (6432):
      # TIME_WAIT sockets / 60 s is the rate over the last minute. Fires when
      # it is high and far above its average over @BASELINE@, for five scrapes.
      - alert: PostgresConnectionChurnHigh
        expr: |
          (churnlab_destination_sockets{state="time_wait", destination=~".*:(5432|6432)"} / 60 > 20)
          and
          (churnlab_destination_sockets{state="time_wait", destination=~".*:(5432|6432)"}
            > 3 * avg_over_time(churnlab_destination_sockets{state="time_wait", destination=~".*:(5432|6432)"}[@BASELINE@]))
        for: @CHURN_FOR@
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.instance }} opens {{ $value | printf \\"%.0f\\" }} DB connections/s toward {{ $labels.name }}"
          description: >-
            {{ $labels.instance }} opens about {{ $value | printf "%.0f" }} new connections per second
            toward {{ $labels.destination }}: a new DB connection per request. Every one costs a backend
            fork (or a PgBouncer login) and a local port for 60 s. CONN_MAX_AGE does not help under
            eventlet/gevent without a pool.
          runbook_url: @BASE@/PostgresConnectionChurnHigh.md

  - name: churnlab-postgres
    rules:
      # Client backends against max_connections, for ten scrapes.
      - alert: PostgresConnectionsNearMax
        expr: |
          max by (instance) (sum by (instance, server) (pg_stat_activity_count))
          / max by (instance) (pg_settings_max_connections) > 0.9
        for: @POOL_FOR@
        labels:
          severity: critical
        annotations:
          summary: "Postgres on {{ $labels.instance }} is at {{ $value | humanizePercentage }} of max_connections"
          description: >-
            Postgres on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its max_connections
            in use: new connections will fail with "sorry, too many clients already". Bound the clients
            (gthread workers x threads, a pool, PgBouncer) below max_connections.
          runbook_url: @BASE@/PostgresConnectionsNearMax.md

      # Clients queued in PgBouncer for a server connection, for ten scrapes.
      - alert: PgBouncerClientsWaiting
        expr: max by (instance, database) (pgbouncer_waiting_clients) > 0
        for: @POOL_FOR@
        labels:
          severity: warning
        annotations:
          summary: "PgBouncer on {{ $labels.instance }}: {{ $value }} clients waiting for a server connection ({{ $labels.database }})"
          description: >-
            {{ $value }} clients of PgBouncer on {{ $labels.instance }} wait for a server connection to
            database {{ $labels.database }}: the pool is smaller than the concurrency, requests queue in
            PgBouncer (query_wait_timeout ends them). Raise default_pool_size within max_connections, or
            lower the app's concurrency.
          runbook_url: @BASE@/PgBouncerClientsWaiting.md
"""
