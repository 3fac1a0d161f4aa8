"""The load generator as the limit: a measurement that is not valid (its ports, its dropped
iterations, its CPU). The verdict loadgen-limited and training's "a valid measurement" judge by it."""
from __future__ import annotations

from churnlab.diagnosis.cases import (
    _n,
)
from churnlab.diagnosis.facts import Facts
from churnlab.evidence import k6_merge

__all__ = ["LOADGEN_CPU_BUSY", "LOADGEN_CPU_THROTTLED", "loadgen_reasons"]

# A generator that used this share of the CPU it could use (its limit, or the machine's
# cores), or that hit its CPU limit in this share of the kernel's periods, was short of
# CPU: its requests went out and its answers were read late.
LOADGEN_CPU_BUSY = 0.9
LOADGEN_CPU_THROTTLED = 0.5


def _starved(facts: Facts) -> list[str]:
    """The generators short of CPU."""
    return sorted({name for name, busy in facts.loadgen_cpu_busy.items() if busy >= LOADGEN_CPU_BUSY}
                  | {name for name, share in facts.loadgen_cpu_throttled.items() if share >= LOADGEN_CPU_THROTTLED})


def loadgen_reasons(facts: Facts) -> list[str]:
    """Why the generators were the limit (their own ports, VUs or time, CPU); [] when they were not.
    The verdict loadgen-limited and training's "a valid measurement" both judge by it."""
    ports = facts.loadgen_errors.get(k6_merge.LOADGEN_EADDRNOTAVAIL, 0)
    dropped = facts.dropped_iterations
    starved = _starved(facts)
    requests = f" of {_n(facts.requests)}" if facts.requests else ""
    reasons = []
    if ports:
        reasons.append(f"k6 itself failed {_n(ports)}{requests} requests with 'cannot assign requested "
                       f"address' (EADDRNOTAVAIL on the generator): it ran out of its own ephemeral ports "
                       + (f"(ip_local_port_range {facts.loadgen_port_range})" if facts.loadgen_port_range
                          else "(its ip_local_port_range as it was)"))
    if dropped:
        reasons.append(f"k6 dropped {_n(dropped)} iterations: too few VUs or too little time for the load asked")
    if starved:
        cores = f"LOADGEN_CPUS={facts.loadgen_cpus}" if facts.loadgen_cpus else "the machine's cores"
        def how(name: str) -> str:
            busy, throttled = facts.loadgen_cpu_busy.get(name), facts.loadgen_cpu_throttled.get(name)
            return ((f"generator {name} " if facts.loadgens > 1 else "")
                    + (f"busy {busy:.0%}" if busy is not None else "busy unknown")
                    + (f", throttled in {throttled:.0%} of the kernel's periods" if throttled is not None else ""))
        reasons.append("k6 was short of CPU: " + "; ".join(how(name) for name in starved)
                       + f" (the CPU it could use: {cores}), so it sent requests and read answers late")
    return reasons
