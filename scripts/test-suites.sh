#!/usr/bin/env bash
# make test's last three suites, after lint and the unit tests: the lab hosts'
# tests start in the background at once, while the contract and e2e tests run
# in front. The hosts' tests marked `beside_e2e` (hosts up, the converges and
# dry runs, the checks that only read the hosts: nothing that puts a load on)
# run meanwhile on what the machine has spare, at a lower CPU priority
# (tests/hosts/beside_e2e.py); the first test that puts a load on waits
# until the e2e tests are done. No load of one suite ever shares the machine
# with a load of the other. The hosts' output follows the e2e's. Exit status:
# non-zero when any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
log="$work/test-hosts.log"
export CHURNLAB_TEST_E2E_DONE="$work/e2e-done"
# In a session of its own (setsid), stopped as one group with SIGINT: pytest's teardown takes the hosts
# down. A background job of a script starts with SIGINT ignored: env gives it back its default.
setsid env --default-signal=INT make -s test-hosts >"$log" 2>&1 </dev/null &
hosts=$!
stop_hosts() {
    if kill -0 "$hosts" 2>/dev/null; then
        kill -INT -- "-$hosts" 2>/dev/null
        wait "$hosts" 2>/dev/null
    fi
    rm -rf "$work"
}
trap 'stop_hosts; exit 130' INT
trap 'stop_hosts; exit 143' TERM
trap 'stop_hosts' EXIT
unset CHURNLAB_TEST_E2E_DONE  # the suites in front never wait

make -s test-contract; contract=$?
make -s test-e2e; e2e=$?
touch "$work/e2e-done"

echo "==> the lab hosts' tests (started beside the contract and e2e tests)"
tail -n +1 -f --pid="$hosts" "$log"
wait "$hosts"; hosts_rc=$?
echo "==> contract: exit $contract; e2e: exit $e2e; hosts: exit $hosts_rc"
(( contract == 0 && e2e == 0 && hosts_rc == 0 ))
