"""core.files.write_atomic: whole or not at all, private from its first byte where a mode is asked."""
import os

import pytest

from churnlab.core import files


def test_a_mode_is_the_files_from_its_first_byte_and_replaces_the_old(tmp_path):
    path = tmp_path / "snap.json"
    path.write_text("old")
    umask = os.umask(0o022)  # the usual one: a plain write would give 0644
    try:
        files.write_atomic(path, "new", mode=0o600)
    finally:
        os.umask(umask)
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        files.write_atomic(path, "\udcff", mode=0o600)  # a lone surrogate cannot be encoded
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
