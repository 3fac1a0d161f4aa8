"""Render an Ansible role's templates inside a lab container, as Ansible
renders them on hosts: one template per service, two callers (the pgbouncer
and front images; compose mounts this file and the role read-only).

    python3 render_role.py PREFIX ROLE_DIR TEMPLATE:OUTPUT [TEMPLATE:OUTPUT ...]

Variables are the role's own names: its defaults/main.yml (plain values
only), overridden by the container's environment, PREFIX_<NAME> ->
prefix_<name> (PGBOUNCER_DB_HOST -> pgbouncer_db_host). A default that is a
list takes a comma-separated value ("" = empty). PREFIX_<NAME>_FILE, when the
role has no <name>_file of its own, is a secret read from that file into
<name>. Outputs are written 0600.
"""
import os
import sys
from pathlib import Path

import jinja2
import yaml


def _plain(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return not any("{{" in str(v) for v in values)


def variables(prefix: str, role: Path, environ: dict[str, str]) -> dict:
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    values = {k: v for k, v in defaults.items() if _plain(v)}
    for key, value in environ.items():
        if not key.startswith(f"{prefix}_") or key.endswith("_ROLE_DIR"):
            continue
        name = key.lower()
        if name.endswith("_file") and name not in defaults:
            values[name.removesuffix("_file")] = Path(value).read_text().strip()
        elif isinstance(defaults.get(name), list):
            values[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            values[name] = value
    values["ansible_managed"] = f"rendered at start from {role}/templates (the role's own templates)"
    return values


def main(argv: list[str]) -> int:
    if len(argv) < 3 or not all(":" in pair for pair in argv[2:]):
        print("usage: render_role.py PREFIX ROLE_DIR TEMPLATE:OUTPUT [...]", file=sys.stderr)
        return 2
    prefix, role = argv[0], Path(argv[1])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(role / "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    try:
        values = variables(prefix, role, dict(os.environ))
        for pair in argv[2:]:
            template, output = pair.split(":", 1)
            out = Path(output)
            out.write_text(env.get_template(template).render(**values))
            out.chmod(0o600)
    except (jinja2.TemplateError, OSError, yaml.YAMLError) as exc:
        print(f"{prefix.lower()}: cannot render its configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
