"""The lab's secrets: generated once, 0600 in a 0700 folder (a wider mode is
narrowed), handed to compose as environment-sourced secrets."""
import stat

from churnlab.core import secrets as lab_secrets
from churnlab.core.paths import ROOT


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
