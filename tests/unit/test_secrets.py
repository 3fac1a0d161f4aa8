"""The lab's secrets: generated once, 0600 in a 0700 folder (a wider mode is
narrowed), handed to compose as environment-sourced secrets."""
import os
import stat

from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import ROOT
from tests.helpers import at_once


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_generated_once(tmp_path):
    folder = tmp_path / "secrets"
    created = lab_secrets.ensure(folder)
    assert set(created) == set(lab_secrets.NAMES)
    values = {name: (folder / name).read_text().strip() for name in lab_secrets.NAMES}
    assert all(len(v) >= 32 for v in values.values())
    assert lab_secrets.ensure(folder) == []  # a second run changes nothing
    assert {name: (folder / name).read_text().strip() for name in lab_secrets.NAMES} == values


def test_files_are_0600_in_a_0700_folder(tmp_path):
    folder = tmp_path / "secrets"
    lab_secrets.ensure(folder)
    assert mode(folder) == 0o700
    assert {name: mode(folder / name) for name in lab_secrets.NAMES} == {name: 0o600 for name in lab_secrets.NAMES}


def test_a_wider_mode_found_there_is_narrowed(tmp_path):
    folder = tmp_path / "secrets"
    lab_secrets.ensure(folder)
    folder.chmod(0o755)
    (folder / "db_password").chmod(0o644)  # what earlier versions left behind
    (folder / "other-key").write_text("x")
    (folder / "other-key").chmod(0o640)
    (folder / "id.pub").write_text("ssh-ed25519 AAAA")
    (folder / "id.pub").chmod(0o644)
    assert lab_secrets.ensure(folder) == []
    assert mode(folder) == 0o700
    assert mode(folder / "db_password") == 0o600 and mode(folder / "other-key") == 0o600
    assert mode(folder / "id.pub") == 0o600  # even a public key: the lab hosts get a copy from .lab/
    assert lab_secrets.tighten(folder) == []


def test_compose_gets_the_values_by_environment_variable(tmp_path):
    folder = tmp_path / "secrets"
    assert lab_secrets.compose_env(folder) == {}
    lab_secrets.ensure(folder)
    env = lab_secrets.compose_env(folder)
    assert set(env) == {"CHURNLAB_SECRET_DB_PASSWORD", "CHURNLAB_SECRET_DJANGO_SECRET_KEY"}
    assert env["CHURNLAB_SECRET_DB_PASSWORD"] == (folder / "db_password").read_text().strip()
    base = (ROOT / "compose" / "base.yml").read_text()
    for name in lab_secrets.NAMES:  # compose/base.yml names the same variables
        assert f"environment: {lab_secrets.env_name(name)}" in base


def test_secrets_are_git_ignored():
    assert ".secrets/" in (ROOT / ".gitignore").read_text().split()


def test_every_folder_under_the_secrets_folder_is_0700_from_the_start(tmp_path, monkeypatch):
    """A fresh clone: the first command that needs .secrets/lab-hosts makes .secrets/ too, both 0700
    whatever the umask (mkdir's parents would be 0755)."""
    top = tmp_path / ".secrets"
    above = mode(tmp_path)
    old = os.umask(0o022)
    try:
        made = lab_secrets.private_dir(top / "lab-hosts" / "deeper", top)
    finally:
        os.umask(old)
    assert made.is_dir()
    assert [mode(p) for p in (top, top / "lab-hosts", made)] == [0o700, 0o700, 0o700]
    (top / "lab-hosts").chmod(0o755)  # a wider mode found there is narrowed again
    lab_secrets.private_dir(top / "lab-hosts", top)
    assert mode(top / "lab-hosts") == 0o700
    assert mode(tmp_path) == above  # nothing above the secrets folder is touched


def test_two_commands_at_once_on_a_fresh_checkout_make_each_secret_once(tmp_path):
    """Four processes ensure the secrets together (two makes at once, or pytest-xdist's workers):
    each file is made by exactly one, whole and 0600, and no temporary file stays."""
    target = tmp_path / "secrets"
    made = at_once(lab_secrets.ensure, target, processes=4, timeout=30)
    assert sorted(name for names in made for name in names) == sorted(lab_secrets.NAMES)
    assert sorted(p.name for p in target.iterdir()) == sorted(lab_secrets.NAMES)
    for name in lab_secrets.NAMES:
        path = target / name
        assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_text().strip()) >= 32
