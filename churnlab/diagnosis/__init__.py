"""The verdict in plain words, with the numbers behind it: a run folder or live
evidence reduced to Facts, the case it is, why, and the fixes that apply,
ranked. Standard library only, so it runs beside a real host too.

The package's names, from its modules: cases (the cases, Verdict, Fix),
facts (what a run shows), loadgens (a generator as the limit), faults (a run
with a fault), verdict (diagnose), ranking (the fixes in the latest rank's order).
"""
from churnlab.diagnosis.cases import *  # noqa: F403
from churnlab.diagnosis.facts import *  # noqa: F403
from churnlab.diagnosis.faults import *  # noqa: F403
from churnlab.diagnosis.loadgens import *  # noqa: F403
from churnlab.diagnosis.verdict import *  # noqa: F403
