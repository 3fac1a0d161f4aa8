#!/usr/bin/env bash
# Render pgbouncer.ini and the auth file from the pgbouncer role's templates
# (the same files Ansible renders on hosts), then start.
set -euo pipefail
umask 077
python3 /usr/local/lib/churnlab/render_role.py PGBOUNCER /etc/pgbouncer/role \
    pgbouncer.ini.j2:/etc/pgbouncer/pgbouncer.ini userlist.txt.j2:/etc/pgbouncer/userlist.txt
exec "$@"
