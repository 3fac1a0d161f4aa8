"""Which fix to pick: every fix of config/presets.yml's `rank:` list, measured side by side.

For each candidate and each concurrency level: a fresh stack, the ab load on
/api/v1/ping/ (no DB: the app's ceiling on this machine), then at once the same
load on /api/v1/healthz/ on the same stack. Two runs back to back rather than
one k6 run with two scenarios: k6 runs scenarios at the same time, so ping and
healthz would share the CPU and each other's queue, and neither rate would be
a ceiling. Back to back, both see the same machine, stack and generator, a few
seconds apart. The ceiling ratio is healthz req/s / ping req/s.

Then each candidate whose fix is its variant runs healthz once more on the
repro profile (1,000 ports, no TIME_WAIT reuse): does it hold when the host is
the incident's? A candidate whose variant is the incident's own (direct) is a
fix only through its profile: the column is "n/a" for it.

Every run goes through the one load path (matrix.run_steps -> lab.up,
loadrun.run) and leaves its run folder; results/rank-<id>/ gets rank.json,
rank.md and report.html (the fixes on one chart, then every run's series).
The order is a rule on the numbers (ranking.order_key), written into rank.json.
The package's modules: plan, ranking, runner, output, readback.
"""
from churnlab.reports.rank.constants import *  # noqa: F403
from churnlab.reports.rank.output import *  # noqa: F403
from churnlab.reports.rank.plan import *  # noqa: F403
from churnlab.reports.rank.ranking import *  # noqa: F403
from churnlab.reports.rank.readback import *  # noqa: F403
from churnlab.reports.rank.runner import *  # noqa: F403
