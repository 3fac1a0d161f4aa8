"""docs/variables.md, generated: every variable a user can set, from the places that know it.

- which variables there are: the Makefile's `export` lines (make hands them to the CLI);
- a number's range and why: churnlab.bounds.RANGES;
- what a name, list or switch takes, its default and the make targets that read it: the CLI's
  options (each names its variable) and the Makefile's recipes (`$(CHURNLAB) <command>`);
- the few variables read from the environment alone: ENVIRONMENT below, their only description.

`make docs` (python -m churnlab.cli.vardoc > docs/variables.md) writes it, and
tests/unit/test_vardoc.py fails when the file and render() differ.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from churnlab.core import bounds
from churnlab.core.paths import COMPOSE_DIR, ROOT

MAKEFILE = ROOT / "Makefile"
DOC = ROOT / "docs" / "variables.md"

# Read from the environment only (no CLI option, no make export): nothing else describes them.
ENVIRONMENT: dict[str, str] = {
    "BASE_IMAGE": "the base image of every build; `debian:bookworm-slim` uses the registry's where one is "
                  "reachable (default: `churnlab/bookworm:base`, built by debootstrap)",
    "POSTGRES_IMAGE": "a db image to pull instead of building one, such as `postgres:14.7`, the incident's exact "
                      "version (same config, same `POSTGRES_*` variables)",
    "CA_BUNDLE": "an extra CA bundle for pip inside builds, for TLS-inspecting proxies (default: the host's "
                 "`/etc/ssl/certs/ca-certificates.crt`)",
    "PG_SIZING": "the compose lab's sizing file under `config/postgresql/`: `small-host` (default) or "
                 "`incident-host` (the incident's 64 GB settings)",
    "CHURNLAB_PRESETS": "another copy of `config/presets.yml` for the compose lab and Ansible",
    "CHURNLAB_ROOT": "the checkout an installed `churnlab` works in",
    "PYTEST_ARGS": "extra pytest options for the `test*` targets",
}

_HELP_VAR = re.compile(r"\s*\[[A-Z_]+\]$")
_DEFAULT = re.compile(r"\bdefault:? ([^;,)\[]+)")


def exported(makefile: Path | None = None) -> list[str]:
    """The variables the Makefile exports, in its order (a line ending in \\ goes on)."""
    text = re.sub(r"\\\n", " ", (makefile or MAKEFILE).read_text())
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("export "):
            names += [n for n in line.split("#")[0].split()[1:] if n not in names]
    return names


def targets_by_command(makefile: Path | None = None) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """CLI command ("up", "hosts load") -> the make targets whose recipe runs it, with the flags they pass."""
    found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    target = None
    for line in (makefile or MAKEFILE).read_text().splitlines():
        head = re.match(r"([A-Za-z0-9_-]+):", line)
        if head:
            target = head.group(1)
        elif target and line.startswith("\t$(CHURNLAB) "):
            words = line.split()[1:]
            command = " ".join(w for w in words if not w.startswith("-"))
            found.setdefault(command, []).append((target, tuple(w for w in words if w.startswith("-"))))
    return found


def compose_defaults() -> dict[str, str]:
    """The defaults compose itself gives a variable (${NAME:-value}), for those the CLI leaves empty."""
    found: dict[str, str] = {}
    for path in sorted(COMPOSE_DIR.rglob("*.yml")):
        for name, value in re.findall(r"\$\{([A-Z_]+):-([^}$]*)\}", path.read_text()):
            if value:
                found.setdefault(name, value)
    return found


def _commands(command, path: tuple[str, ...] = ()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def _reads(help_text: str, flags: tuple[str, ...]) -> bool:
    """Whether a target that passes `flags` uses an option: "with --readme: ..." only with --readme."""
    if flags:
        return any(flag in help_text for flag in flags)
    return not help_text.startswith("with --")


def options() -> dict[str, list[tuple[str, str, str]]]:
    """Variable -> (make target, help, default) for every CLI option that names a variable."""
    import typer.main

    from churnlab.cli import app

    by_command = targets_by_command()
    fallback = compose_defaults()
    found: dict[str, list[tuple[str, str, str]]] = {}
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if not param.envvar:
                continue
            text = _HELP_VAR.sub("", param.help or "")
            default = str(param.default or "")
            if not default:
                match = _DEFAULT.search(text)
                default = match.group(1).strip() if match else ""
            if not default and text.startswith("override"):
                default = "the variant's"
            default = default or fallback.get(param.envvar, "")
            for target, flags in by_command.get(path, []):
                if _reads(text, flags):
                    found.setdefault(param.envvar, []).append((target, text, default))
    return found


def _per_target(pairs: list[tuple[str, str]]) -> str:
    """One value when every target agrees, else each with its targets."""
    values: dict[str, list[str]] = {}
    for target, value in pairs:
        if value and target not in values.setdefault(value, []):
            values[value].append(target)
    if len(values) == 1:
        return _cell(next(iter(values)))
    return "; ".join(f"{', '.join(f'`{t}`' for t in targets)}: {_cell(value)}" for value, targets in values.items())


def _targets(uses: list[tuple[str, str, str]]) -> str:
    return " ".join(dict.fromkeys(f"`{target}`" for target, _, _ in uses))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _range(r: bounds.Range) -> str:
    """low-high: whole numbers as integers, the others as :g (0.1-60)."""
    low, high = (f"{int(v)}" if r.whole else f"{v:g}" for v in (r.low, r.high))
    return f"{low}-{high}"


def render() -> str:
    """The whole of docs/variables.md."""
    names = exported()
    uses = options()
    fallback = compose_defaults()
    lines = [
        "# Every variable",
        "",
        "<!-- written by `make docs` (python -m churnlab.cli.vardoc) from churnlab/core/bounds.py, "
        "the CLI's options and the Makefile; do not edit by hand -->",
        "",
        "Set them on make's command line, as in `make load VUS=800 KEEPALIVE=1`. make hands them to the "
        "`churnlab` CLI through the environment, so a value arrives as typed; a bad one is one line on stderr, "
        "exit code 2, and nothing starts. Lists take commas or spaces. `make help` prints the ranges too.",
        "",
        "## Numbers",
        "",
        "A value outside its range is refused before anything starts. The ranges live in `churnlab/core/bounds.py`.",
        "",
        "| variable | range | why | default | make targets |",
        "|---|---|---|---|---|",
    ]
    for name, r in bounds.RANGES.items():
        used = uses.get(name, [])
        if name not in names:
            where = f"not a make variable: `{name.lower()}` of a variant in `config/presets.yml`"
        else:
            where = _targets(used) or "no option: read from the environment by what uses it"
        default = _per_target([(t, d) for t, _, d in used]) or fallback.get(name, "")
        lines.append(f"| `{name}` | {_range(r)} | {_cell(r.why)} | {default} | {where} |")
    lines += [
        "",
        "## Names, lists and switches",
        "",
        "What each takes, in the words of the CLI's options (`churnlab <command> --help`).",
        "",
        "| variable | what it takes | default | make targets |",
        "|---|---|---|---|",
    ]
    missing = []
    for name in names:
        if name in bounds.RANGES:
            continue
        used = uses.get(name)
        if not used:
            missing.append(name)
            continue
        what = _per_target([(t, text) for t, text, _ in used])
        default = _per_target([(t, d) for t, _, d in used])
        lines.append(f"| `{name}` | {what} | {default} | {_targets(used)} |")
    if missing:
        raise ValueError(f"the Makefile exports {', '.join(missing)}, but no CLI option or range describes them")
    lines += [
        "",
        "## From the environment only",
        "",
        "Neither exported by the Makefile nor a CLI option: each is read where it is used.",
        "",
        "| variable | what |",
        "|---|---|",
        *(f"| `{name}` | {_cell(text)} |" for name, text in ENVIRONMENT.items()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
