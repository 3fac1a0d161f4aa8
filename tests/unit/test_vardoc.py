"""docs/variables.md is generated from the ranges (churnlab/core/bounds.py), the CLI's options and the
Makefile (churnlab/cli/vardoc.py): it lists every range and every variable make exports, and the file
in docs/ is what `make docs` writes today."""
import pytest

from churnlab.cli import vardoc
from churnlab.core import bounds


def test_docs_variables_is_current():
    assert vardoc.DOC.read_text() == vardoc.render(), "docs/variables.md is stale: run make docs"


def test_every_range_is_in_the_table():
    text = vardoc.render()
    for name, r in bounds.RANGES.items():
        low = f"{int(r.low)}" if r.whole else f"{r.low:g}"
        high = f"{int(r.high)}" if r.whole else f"{r.high:g}"
        assert f"| `{name}` | {low}-{high} | {r.why} |" in text, name


def test_every_exported_variable_has_a_row():
    text = vardoc.render()
    exported = vardoc.exported()
    assert {"VARIANT", "VUS", "FAULT", "EX", "LOADGEN_CPUS"} <= set(exported)
    for name in exported:
        assert f"\n| `{name}` | " in text, name


def test_the_targets_come_from_the_makefiles_recipes():
    rows = {line.split(" | ")[0]: line for line in vardoc.render().splitlines() if line.startswith("| `")}
    assert rows["| `DIAG_SECONDS`"].endswith("| 5 | `diagnose` `investigate` `provision-diagnose` |")
    assert "`rank-readme`" in rows["| `RUN`"] and "`rank-readme`" not in rows["| `RANK_LEVELS`"]
    assert "| `lab-up`: direct; `provision`: the inventory's own churnlab_variant |" in rows["| `VARIANT`"]
    assert "not a make variable: `pool_max_size`" in rows["| `POOL_MAX_SIZE`"]


def test_a_variable_nothing_describes_is_refused(tmp_path, monkeypatch):
    makefile = tmp_path / "Makefile"
    makefile.write_text(vardoc.MAKEFILE.read_text() + "export MYSTERY_KNOB\n")
    monkeypatch.setattr(vardoc, "MAKEFILE", makefile)
    with pytest.raises(ValueError, match="exports MYSTERY_KNOB, but no CLI option or range"):
        vardoc.render()
