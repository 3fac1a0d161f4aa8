#!/usr/bin/env bash
# make test's last three suites, after lint and the unit tests: the e2e tests
# with the lab hosts' tests beside them, then the contract tests beside the
# hosts' loads.
# The e2e tests run in front, on the machine as if alone. Beside them, on what
# they leave spare and at a lower CPU priority, the hosts' tests marked
# `beside_e2e` run: the hosts coming up, the converges and dry runs, the checks
# that only read the hosts; nothing that puts a load on (tests/hosts/beside_e2e.py).
# The first hosts test that puts a load on waits until the e2e tests' loads are
# done: the e2e tests marked no_load (no load, no time measured) run last, and
# the first of them makes the file the hosts wait for (tests/e2e/conftest.py);
# so does the e2e's end. No load of one suite ever shares the machine with a
# load of the other.
# The contract tests (real tools, no container, no load) run once the e2e tests
# are done, at nice 10, beside the hosts' loads: the lab hosts' containers weigh
# as much as a nice-0 process of this machine, each contract process a tenth
# of it. (Before the e2e tests, alone, they added 65-85 s to make test; beside
# the hosts' converges at the same priority they took 161 s instead of 74.)
# They need the e2e tests done: a contract case expects no exercise running and
# no lab up.
# The hosts' output follows the contract tests'. Exit status: non-zero when any
# suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
export CHURNLAB_TEST_E2E_LOADS_DONE="$work/e2e-loads-done"
# In a session of its own (setsid), stopped as one group with SIGINT: pytest's teardown takes the hosts
# down. A background job of a script starts with SIGINT ignored: env gives it back its default.
setsid env --default-signal=INT make -s test-hosts \
    >"$work/hosts.log" 2>&1 </dev/null &
hosts=$!
stop() {
    kill -0 "$hosts" 2>/dev/null && kill -INT -- "-$hosts" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

make -s test-e2e; e2e=$?
touch "$CHURNLAB_TEST_E2E_LOADS_DONE"

echo "==> the contract tests (beside the lab hosts' loads)"
nice -n 10 make -s test-contract; contract=$?

echo "==> the lab hosts' tests (started beside the e2e tests)"
tail -n +1 -f --pid="$hosts" "$work/hosts.log"
wait "$hosts"; hosts_rc=$?
echo "==> e2e: exit $e2e; contract: exit $contract; hosts: exit $hosts_rc"
(( contract == 0 && e2e == 0 && hosts_rc == 0 ))
