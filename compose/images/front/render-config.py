"""Render the front's nginx site from the front role's template, in the container.

Variables are the role's own names: its defaults/main.yml (plain values only),
overridden by the container's environment, FRONT_<NAME> -> front_<name>
(e.g. FRONT_UPSTREAM_HOST -> front_upstream_host). front_listen_addresses is
comma-separated.
"""
import os
import sys
from pathlib import Path

import jinja2
import yaml

ROLE = Path(os.environ.get("FRONT_ROLE_DIR", "/etc/churnlab-front/role"))
OUT = Path("/etc/churnlab-front/site.conf")
LISTS = {"front_listen_addresses"}


def variables() -> dict:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)
              and not (isinstance(v, list) and any("{{" in str(x) for x in v))}
    for key, value in os.environ.items():
        if not key.startswith("FRONT_") or key == "FRONT_ROLE_DIR":
            continue
        name = key.lower()
        values[name] = [v.strip() for v in value.split(",") if v.strip()] if name in LISTS else value
    values["ansible_managed"] = f"rendered at start from {ROLE}/templates (the front role's template)"
    return values


def main() -> int:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    try:
        OUT.write_text(env.get_template("front.conf.j2").render(**variables()))
    except (jinja2.TemplateError, OSError) as exc:
        print(f"front: cannot render its configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
