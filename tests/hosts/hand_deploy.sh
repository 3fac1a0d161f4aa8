#!/bin/bash
# The incident's app deployed by hand, the way an owner without this lab's
# roles would: no Ansible, no lab fact, no churnlab-sockets. Its own path
# (/srv/shop), user (shop), unit (shop-api.service), environment file
# (/etc/shop/shop.env, with the password in it) and gunicorn config, started
# as in the incident (`gunicorn myapp.wsgi:application -c
# myapp/settings/gunicorn.conf.py`, a path relative to the app's folder) with
# worker_class read from os.environ. The code is the lab's app/ (Django 4.1.3,
# DRF, gunicorn 21.2, eventlet), unpacked into /srv/shop/app beforehand; its
# packages go to /srv/shop/lib (PYTHONPATH), from PyPI through the host's own
# pip.conf unless they were put there already (the tests copy the lab app
# host's: the same pins).
#
# Run as root on the host, with the settings in the environment:
#   SHOP_DB_HOST SHOP_DB_PASSWORD SHOP_SECRET_KEY SHOP_API_TOKEN SHOP_CONFIG_SECRET
#   [SHOP_WORKER=eventlet] [SHOP_PORT=8100]
# Afterwards the app answers on :SHOP_PORT/api/v1/ping/.
set -euo pipefail

: "${SHOP_DB_HOST:?}" "${SHOP_DB_PASSWORD:?}" "${SHOP_SECRET_KEY:?}" "${SHOP_API_TOKEN:?}" "${SHOP_CONFIG_SECRET:?}"
SHOP_WORKER=${SHOP_WORKER:-eventlet}
SHOP_PORT=${SHOP_PORT:-8100}
ROOT=/srv/shop

id shop >/dev/null 2>&1 || useradd --system --home-dir "$ROOT" --no-create-home --shell /usr/sbin/nologin shop
test -f "$ROOT/app/requirements.txt"

if [ ! -d "$ROOT/lib/django" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$ROOT/lib" \
        -r "$ROOT/app/requirements.txt"
fi
install -d "$ROOT/bin"
printf '#!/usr/bin/python3\nimport sys\nfrom gunicorn.app.wsgiapp import run\nsys.exit(run())\n' >"$ROOT/bin/gunicorn"
chmod 0755 "$ROOT/bin/gunicorn"

# The owner's gunicorn config: the incident's shape, the worker class from the unit's environment.
install -d "$ROOT/app/settings"
cat >"$ROOT/app/settings/gunicorn.conf.py" <<EOF
import os

bind = f"0.0.0.0:{os.environ.get('SHOP_PORT', '8100')}"
worker_class = os.environ.get("SHOP_WORKER", "eventlet")
workers = 6
threads = int(os.getenv("SHOP_THREADS", "40"))
timeout = 60
errorlog = "-"
# not a gunicorn setting: an owner's secret left in the config
api_secret = "$SHOP_CONFIG_SECRET"
EOF

install -d -m 0750 /etc/shop
umask 077
cat >/etc/shop/shop.env <<EOF
DJANGO_SETTINGS_MODULE=labapp.settings
DJANGO_SECRET_KEY=$SHOP_SECRET_KEY
DB_HOST=$SHOP_DB_HOST
DB_PORT=5432
DB_NAME=lab
DB_USER=lab
DB_PASSWORD=$SHOP_DB_PASSWORD
CONN_MAX_AGE=600
SHOP_API_TOKEN=$SHOP_API_TOKEN
SHOP_WORKER=$SHOP_WORKER
SHOP_PORT=$SHOP_PORT
EOF
umask 022

cat >/etc/systemd/system/shop-api.service <<EOF
[Unit]
Description=shop API (deployed by hand)
After=network-online.target

[Service]
User=shop
Group=shop
WorkingDirectory=$ROOT/app
Environment=PYTHONPATH=$ROOT/lib
EnvironmentFile=/etc/shop/shop.env
ExecStart=$ROOT/bin/gunicorn labapp.wsgi:application -c settings/gunicorn.conf.py
LimitNOFILE=16384
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable --now shop-api.service

for _ in $(seq 60); do
    if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$SHOP_PORT/api/v1/ping/', timeout=2)" \
        2>/dev/null; then
        exit 0
    fi
    sleep 0.5
done
journalctl -u shop-api.service --no-pager -n 30 >&2
exit 1
