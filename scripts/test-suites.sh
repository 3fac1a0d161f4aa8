#!/usr/bin/env bash
# make test's last three suites, after lint and the unit tests: the contract
# tests, then the e2e tests with the lab hosts' tests beside them.
# The e2e tests run in front, on the machine as if alone. Beside them, on what
# they leave spare and at a lower CPU priority, the hosts' tests marked
# `beside_e2e` run: the hosts coming up, the converges and dry runs, the checks
# that only read the hosts; nothing that puts a load on (tests/hosts/beside_e2e.py).
# The first hosts test that puts a load on waits until the e2e tests' loads are
# done: the e2e tests marked no_load (no load, no time measured) run last, and
# the first of them makes the file the hosts wait for (tests/e2e/conftest.py);
# so does the e2e's end. No load of one suite ever shares the machine with a
# load of the other. The hosts' output follows the e2e's. Exit status: non-zero
# when any suite failed.
# (The contract tests run alone: beside the hosts' converges they took 161 s
# instead of 74, as the containers' CPU weighs as much as all of theirs.)
set -uo pipefail
cd "$(dirname "$0")/.."

make -s test-contract; contract=$?

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

echo "==> the lab hosts' tests (started beside the e2e tests)"
tail -n +1 -f --pid="$hosts" "$work/hosts.log"
wait "$hosts"; hosts_rc=$?
echo "==> contract: exit $contract; e2e: exit $e2e; hosts: exit $hosts_rc"
(( contract == 0 && e2e == 0 && hosts_rc == 0 ))
