"""The lab hosts' addresses have one source, inventories/lab/hosts."""
import ipaddress

import pytest

from churnlab.core.errors import LabError
from churnlab.core.paths import ROOT
from churnlab.hosts import lab as lab_hosts


def test_addresses_come_from_the_lab_inventory():
    hosts = lab_hosts.addresses()
    assert set(hosts) >= {"db1", "pgbouncer1", "app1", "loadgen1"}
    net = ipaddress.IPv4Network(lab_hosts.subnet())
    assert all(ipaddress.IPv4Address(ip) in net for ip in hosts.values())
    env = lab_hosts.compose_env()
    assert env["LAB_HOST_DB1"] == hosts["db1"] and env["LAB_HOSTS_SUBNET"] == str(net)


def test_the_lab_hosts_compose_file_writes_no_address():
    text = (ROOT / "ansible" / "lab-hosts" / "compose.yml").read_text()
    for ip in lab_hosts.addresses().values():
        assert ip not in text
    for name in lab_hosts.compose_env():
        assert "${" + name + ":?" in text


def test_a_changed_inventory_changes_them(tmp_path):
    (tmp_path / "hosts").write_text("[db]\ndb1 ansible_host=192.168.240.55 # comment\n"
                                    "[app]\napp1 ansible_host=192.168.240.56\n")
    assert lab_hosts.addresses(tmp_path) == {"db1": "192.168.240.55", "app1": "192.168.240.56"}
    assert lab_hosts.compose_env(tmp_path) == {"LAB_HOST_DB1": "192.168.240.55", "LAB_HOST_APP1": "192.168.240.56",
                                               "LAB_HOSTS_SUBNET": "192.168.240.0/24",
                                               "LAB_HOSTS_PROXY": "192.168.240.254"}


def test_no_lab_host_may_take_the_proxys_address(tmp_path):
    (tmp_path / "hosts").write_text("[db]\ndb1 ansible_host=192.168.240.254\n")
    with pytest.raises(LabError, match=r"lab host db1 has 192.168.240.254, lab-proxy's address"):
        lab_hosts.compose_env(tmp_path)


def test_lab_hosts_outside_the_lab_network_are_refused(tmp_path):
    # The lab network is the guard's one exemption from CONFIRM: the inventory cannot move it.
    (tmp_path / "hosts").write_text("[db]\ndb1 ansible_host=10.30.7.7\n")
    with pytest.raises(LabError, match=r"must be in the lab network 192.168.240.0/24: db1 10.30.7.7"):
        lab_hosts.compose_env(tmp_path)


def test_an_inventory_without_addresses_is_refused(tmp_path):
    (tmp_path / "hosts").write_text("[db]\ndb1\n")
    with pytest.raises(LabError, match="names no host"):
        lab_hosts.addresses(tmp_path)
