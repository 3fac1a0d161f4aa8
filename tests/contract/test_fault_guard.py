"""FAULT=... is for the lab hosts only: on any inventory that reaches a host outside
the lab network it is refused, CONFIRM=yes or not, before anything connects (run in a
network namespace with only loopback, like every production case)."""
from __future__ import annotations

import pytest

from tests.helpers import assert_refused_offline
from tests.helpers import make_offline as in_empty_netns


@pytest.mark.parametrize("args, message", [
    (["INVENTORY=inventories/production", "FAULT=db-restart", "CONFIRM=yes"],
     "FAULT=db-restart runs only on the lab hosts (192.168.240.0/24); inventories/production reaches hosts "
     "outside it: app-01 (10.30.8.11)"),
    (["INVENTORY=inventories/production-single", "FAULT=db-network-cut"],
     "inventories/production-single reaches hosts outside it: db-01 (10.30.7.7)"),
    (["INVENTORY=inventories/production", "FAULT=db-explode"], "unknown FAULT 'db-explode'"),
    (["INVENTORY=inventories/production", "FAULT=db-slow", "CONFIRM=yes"],
     "FAULT=db-slow runs only on the lab hosts (192.168.240.0/24); inventories/production reaches hosts outside it"),
    (["INVENTORY=inventories/production-single", "FAULT=db-lossy", "FAULT_LOSS_PCT=5"],
     "FAULT=db-lossy runs only on the lab hosts (192.168.240.0/24)"),
])
def test_a_fault_outside_the_lab_is_refused_without_a_connection_attempt(args, message):
    assert_refused_offline(in_empty_netns("provision-load", *args), message)
