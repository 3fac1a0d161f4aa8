"""A non-editable install (`pip install .` into a fresh venv) carries every
module: each one imports, and `churnlab --help` runs. Slow-ish (a build)."""
import shutil
import subprocess
import sys
import venv

from churnlab.core.paths import ROOT

PACKAGE = ROOT / "churnlab"


def modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


def test_pip_install_dot_imports_every_module_and_runs_the_cli(tmp_path):
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    py = target / "bin" / "python"
    build = tmp_path / "src"  # a copy, so no build/ or egg-info lands in the checkout
    shutil.copytree(PACKAGE, build / "churnlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", build)
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(build)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = modules()
    assert "churnlab.compose.recorder" in names and "churnlab.cli" in names
    check = ("import importlib, sys\n"
             f"for name in {names!r}:\n"
             "    module = importlib.import_module(name)\n"
             "    assert 'site-packages' in module.__file__, module.__file__\n"
             "print('ok', len(sys.argv))\n")
    proc = subprocess.run([str(py), "-c", check], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr
    proc = subprocess.run([str(target / "bin" / "churnlab"), "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0 and "Reproduce PostgreSQL connection churn" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and sys.prefix not in proc.stderr
