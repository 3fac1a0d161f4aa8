"""Render PgBouncer's files from the pgbouncer role's templates, in the container.

Variables are the role's own names: its defaults/main.yml (plain values only),
overridden by the container's environment, PGBOUNCER_<NAME> -> pgbouncer_<name>
(e.g. PGBOUNCER_DB_HOST -> pgbouncer_db_host). pgbouncer_listen_addresses is
comma-separated ("" = Unix socket only). Secrets come from files:
PGBOUNCER_DB_PASSWORD_FILE, PGBOUNCER_ADMIN_PASSWORD_FILE.
"""
import os
import sys
from pathlib import Path

import jinja2
import yaml

ROLE = Path(os.environ.get("PGBOUNCER_ROLE_DIR", "/etc/pgbouncer/role"))
OUT = Path("/etc/pgbouncer")
LISTS = {"pgbouncer_listen_addresses"}


def variables() -> dict:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)
              and not (isinstance(v, list) and any("{{" in str(x) for x in v))}
    for key, value in os.environ.items():
        if not key.startswith("PGBOUNCER_") or key == "PGBOUNCER_ROLE_DIR":
            continue
        name = key.lower()
        if name.endswith("_file"):
            values[name.removesuffix("_file")] = Path(value).read_text().strip()
        elif name in LISTS:
            values[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            values[name] = value
    values.setdefault("pgbouncer_admin_password", "")
    values["ansible_managed"] = f"rendered at start from {ROLE}/templates (the pgbouncer role's templates)"
    return values


def main() -> int:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    values = variables()
    try:
        for name in ("pgbouncer.ini", "userlist.txt"):
            text = env.get_template(f"{name}.j2").render(**values)
            (OUT / name).write_text(text)
            (OUT / name).chmod(0o600)
    except (jinja2.TemplateError, OSError) as exc:
        print(f"pgbouncer: cannot render its configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
