#!/usr/bin/env bash
# Render the front's site from the front role's template (the same file
# Ansible renders on hosts), check the whole configuration, then start.
set -euo pipefail
umask 077
python3 /usr/local/lib/churnlab/render_role.py FRONT /etc/churnlab-front/role front.conf.j2:/etc/churnlab-front/site.conf
nginx -t -q -c /etc/churnlab-front/nginx.conf
exec "$@"
