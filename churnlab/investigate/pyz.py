"""Build the probe as one file (`make probe`): a zipapp of the modules
churnlab.investigate.main imports, found by following its imports (ast, so
imports inside functions count too), standard library only, or the build
fails naming the module that is not. Run it with any python3 >= 3.10:

    python3 churnlab-investigate.pyz [--db HOST:PORT ...] [--seconds N] [--journal-unit UNIT | --log FILE]
                                     [--snapshot FILE]
"""
from __future__ import annotations

import ast
import os
import sys
import tempfile
import zipapp
from pathlib import Path

ENTRY = "churnlab.investigate.main"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # churnlab/
DEFAULT_OUT = Path(".lab/probe/churnlab-investigate.pyz")


def _file(module: str) -> Path | None:
    base = PACKAGE_DIR.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{alias.name}" for alias in node.names if _file(f"{base}.{alias.name}")}
    return out


def modules(entry: str = ENTRY) -> dict[str, Path]:
    """Every churnlab module the entry needs (with their packages' __init__), by name."""
    found: dict[str, Path] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        parts = name.split(".")
        for i in range(1, len(parts)):  # a module's packages are imported first
            todo.append(".".join(parts[:i]))
        path = _file(name)
        if path is None:
            raise SystemExit(f"probe build: {name} is not a module of this checkout")
        found[name] = path
        for imported in _imports(path, name):
            top = imported.split(".")[0]
            if top == "churnlab":
                todo.append(imported if _file(imported) else imported.rpartition(".")[0])
            elif top not in sys.stdlib_module_names and top != "__future__":
                raise SystemExit(f"probe build: {name} imports {imported}, which is not in the standard "
                                 "library; the probe must run on a bare python3")
    return found


def build(out: Path = DEFAULT_OUT) -> Path:
    """Write the file whole or not at all: built beside it, then renamed over it, so a probe being
    copied to a host (make investigate) never reads a half-written one (another make probe)."""
    with tempfile.TemporaryDirectory() as tmp:
        for path in modules().values():
            target = Path(tmp, path.relative_to(PACKAGE_DIR.parent))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.{os.getpid()}")
        try:
            zipapp.create_archive(tmp, partial, interpreter="/usr/bin/env python3", main=f"{ENTRY}:run",
                                  compressed=True)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    built = build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
    print(f"probe: {built} ({', '.join(sorted(modules()))})")
