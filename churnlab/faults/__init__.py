"""Faults mid-load: `make load FAULT=<kind> [FAULT_AT=10s] [FAULT_FOR=10s] [FAULT_TAIL=15s]`.

A fault is put in place on a timer while k6 runs (FAULT_AT seconds after the
load starts), held for FAULT_FOR seconds, and undone, always: when its time is
up, when the load ends first, on an error and on Ctrl-C (FaultTimer.__exit__,
with SIGINT held off while it undoes). After the load the lab is checked: every
service that ran before is running again, not paused, healthy and on its
network, and no route is left behind. The record (run_record.Fault) keeps what
was planned, when the fault really started and ended, and the recovery read
from k6's per-request CSV: the last seconds of the load all answered 200?

The kinds, in the compose lab:
  db-restart      docker stop of the db (SIGINT: a fast shutdown that terminates
                  every backend), docker start FAULT_FOR later
  db-pause        docker pause of the db (cgroup freezer): the kernel still
                  accepts TCP, Postgres answers nothing
  pgbouncer-kill  docker kill (SIGKILL) of PgBouncer, docker start later
                  (the pgbouncer variants only)
  db-network-cut  an `unreachable` route toward the app's DB host inside the
                  app's own network namespace (from a short-lived helper
                  container sharing it, with NET_ADMIN): new connections fail
                  with "No route to host", open ones stall until it is removed.
The degradations (nothing dies, everything gets slower):
  db-slow         the db container's cgroup CPU quota set to FAULT_DB_CPUS (default 0.05),
                  written back to exactly what it was
  db-lossy        FAULT_LOSS_PCT % of the app's packets toward its DB host dropped
                  (iptables statistic in the lab's own chain CHURNLAB-LOSSY, in the
                  app's namespace), the jump and the chain removed after
"""
from churnlab.faults.compose import *  # noqa: F403
from churnlab.faults.plan import *  # noqa: F403
from churnlab.faults.recovery import *  # noqa: F403
from churnlab.faults.timer import *  # noqa: F403
