"""The guard lists an inventory with this checkout's own ansible.cfg, whatever CHURNLAB_ROOT names: another
tree's ansible.cfg could enable a plugin that runs while listing, before the guard refuses that tree for
hosts outside the lab. Real ansible-inventory; the other tree's vars plugin leaves a marker when it loads."""
import pytest

from churnlab.hosts import guard as hosts_guard
from tests.helpers import ROOT

PLUGIN = '''
from pathlib import Path
from ansible.plugins.vars import BaseVarsPlugin
Path(__file__).with_name("loaded").write_text("the other tree's plugin ran")


class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = False

    def get_vars(self, loader, path, entities, cache=True):
        return {}
'''


@pytest.fixture()
def other_tree(tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "marker.py").write_text(PLUGIN)
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\nvars_plugins = {tmp_path / 'plugins'}\n"
                                          "vars_plugins_enabled = host_group_vars, marker\n")
    monkeypatch.setenv("CHURNLAB_ROOT", str(tmp_path))
    monkeypatch.setattr(hosts_guard, "ROOT", tmp_path)
    return tmp_path


def listing() -> list[str]:
    return [str(hosts_guard.VENV_BIN / "ansible-inventory"), "-i", str(ROOT / "inventories" / "lab"), "--list"]


def test_another_trees_ansible_cfg_runs_nothing_while_the_guard_lists(other_tree):
    listed = hosts_guard._list(listing())
    assert "app1" in listed["_meta"]["hostvars"]
    assert not (other_tree / "plugins" / "loaded").exists()


def test_the_same_plugin_runs_where_its_tree_is_the_only_one(other_tree, monkeypatch):
    """The control: an installed copy (no checkout of its own) lists with CHURNLAB_ROOT's tree, plugin included."""
    monkeypatch.setattr(hosts_guard, "OWN_CHECKOUT", None)
    hosts_guard._list(listing())
    assert (other_tree / "plugins" / "loaded").exists()
