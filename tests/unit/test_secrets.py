from churnlab import lab_secrets


def test_secrets_are_generated_once_and_never_shown_whole(tmp_path):
    created = lab_secrets.ensure(tmp_path)
    assert set(created) == set(lab_secrets.NAMES)
    values = {name: (tmp_path / name).read_text().strip() for name in lab_secrets.NAMES}
    assert all(len(v) >= 32 for v in values.values())
    assert lab_secrets.ensure(tmp_path) == []  # a second run changes nothing
    assert {name: (tmp_path / name).read_text().strip() for name in lab_secrets.NAMES} == values
    shown = lab_secrets.masked(values["db_password"])
    assert values["db_password"] not in shown and len(shown) < 20


def test_secrets_are_git_ignored():
    from churnlab.paths import ROOT
    assert ".secrets/" in (ROOT / ".gitignore").read_text().split()
