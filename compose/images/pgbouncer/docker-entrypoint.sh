#!/usr/bin/env bash
# Render pgbouncer.ini and the auth file from the pgbouncer role's templates
# (the same files Ansible renders on hosts), then start.
set -euo pipefail
umask 077
python3 /usr/local/bin/render-config.py
exec "$@"
